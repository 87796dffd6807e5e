import type { BrowserContext, Page } from 'playwright-core'
import * as oauth from 'oauth4webapi'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { callApi, login, openTab, signInAtProvider, skipAhead, startStack, state, signedInTabs, storedTokens, storm, until, type Stack } from './harness.js'
import { stealRefresh, storedCryptoKeys, thumbprints, watchWire, type Wire } from './dpop-helpers.js'

// DPoP (RFC 9449) end to end: the library in real Chromium with `dpop: true`, the real oidc-provider
// binding access and refresh tokens to the tab's key, and the demo API validating every proof itself
// (oauth4webapi's validateJwtAccessToken: signature, htm, htu, ath, cnf.jkt; plus jti replay and its
// own nonce). Grants, proofs and nonce challenges are counted where they happen, never inferred.

/** Arms `perTab` API calls in every tab, then fires them all at once with one BroadcastChannel message. */

/** A fresh tab logged in, with its wire watched from before the login. */
async function loggedInTab(context: BrowserContext, stack: Stack): Promise<{ page: Page; wire: Wire }> {
  const page = await openTab(context, stack)
  const wire = watchWire(page, stack)
  await login(page, stack)
  return { page, wire }
}

for (const requireNonce of [false, true]) {
  describe(`DPoP${requireNonce ? ' with nonces required by the provider and the API' : ''} (real Chromium, real oidc-provider)`, () => {
    let stack: Stack
    let context: BrowserContext | undefined
    beforeAll(async () => {
      stack = await startStack({
        accessTokenTtl: 30,
        page: { dpop: true },
        provider: { dpop: { requireNonce }, apiResource: true },
        api: { requireDPoP: true, requireNonce },
      })
    })
    afterEach(async () => {
      await context?.close()
      context = undefined
      stack.op.setTokenDelay(0)
    })
    afterAll(async () => {
      await stack?.stop()
    })

    it('login binds the tokens to one non-extractable key; API calls carry DPoP proofs the API accepts', async () => {
      context = await stack.newContext()
      stack.op.resetStats()
      const { page, wire } = await loggedInTab(context, stack)
      const [jkt] = thumbprints(wire.proofs)
      expect(thumbprints(wire.proofs)).toEqual([jkt])
      // The code exchange carried a proof of that key, and the provider bound both tokens to it.
      const exchange = stack.op.stats.dpopProofs.filter((p) => p.grantType === 'authorization_code' && p.status === 200)
      expect(exchange.map((p) => p.jkt)).toEqual([jkt])
      expect(stack.op.stats.issued.filter((t) => t.kind === 'RefreshToken').map((t) => t.jkt)).toEqual([jkt])
      expect(stack.op.stats.issued.filter((t) => t.kind === 'AccessToken').map((t) => t.jkt)).toEqual([jkt])
      expect(stack.op.stats.withoutProof['/token'] ?? 0).toBe(0)
      // The authorization request named the key too (dpop_jkt, RFC 9449 §10): the code is bound to it.
      expect(stack.op.stats.dpopJkt).toEqual([jkt])
      // One key pair in IndexedDB; the private half cannot be exported.
      const keys = await storedCryptoKeys(page)
      expect(keys.map((k) => [k.type, k.extractable]).sort()).toEqual([
        ['private', false],
        ['public', true],
      ])

      for (let i = 0; i < 3; i++) expect(await callApi(page)).toBe(200)
      const apiProofs = wire.proofs.filter((p) => p.path === '/api/me')
      expect(apiProofs.length).toBeGreaterThanOrEqual(3)
      for (const proof of apiProofs) {
        expect(proof).toMatchObject({ jkt, htm: 'GET', htu: `${stack.appOrigin}/api/me`, scheme: 'DPoP', ath: expect.any(String) })
      }
      expect(stack.api.stats.proofs.filter((p) => p.status === 200).map((p) => p.jkt)).toEqual([jkt, jkt, jkt])
      expect(stack.api.stats.replays).toBe(0)
      // A use_dpop_nonce costs one retry, once per origin: never again once the nonce is known.
      expect(wire.nonceChallenges).toEqual(requireNonce ? { provider: 1, api: 1 } : { provider: 0, api: 0 })
      if (requireNonce) expect(apiProofs.slice(-3).every((p) => p.nonce === stack.api.nonce)).toBe(true)
      expect(wire.unauthorized).toEqual([])
    })

    it('storm: 10 tabs x 20 calls on an expired token -> 1 refresh grant, one key in every tab, no nonce paid twice', async () => {
      context = await stack.newContext()
      const tabs = await signedInTabs(context, stack, 10)
      const wires = tabs.map((tab) => watchWire(tab, stack))
      // One tab learns the API's nonce; the others must not pay for it again.
      expect(await callApi(tabs[0])).toBe(200)
      expect(wires[0].nonceChallenges.api).toBe(requireNonce ? 1 : 0)
      for (const wire of wires) wire.nonceChallenges = { provider: 0, api: 0 }
      const [loginKey] = thumbprints(wires[0].proofs)
      stack.op.resetStats()
      stack.api.stats.nonceChallenges = 0
      // A real network's latency, so that races loopback hides can show.
      stack.op.setTokenDelay(100)
      for (const tab of tabs) await skipAhead(tab, 31_000)
      const results = await storm(tabs, 20)
      expect(results).toHaveLength(200)
      expect(results.filter((r) => r !== 200)).toEqual([])
      expect(stack.op.stats.grants.refresh_token).toBe(1)
      expect(stack.op.stats.grantErrors.filter((e) => e.error !== 'use_dpop_nonce')).toEqual([])
      expect(stack.op.stats.revokedGrants).toBe(0)
      // The one refresh was made with the login's key, and the new tokens are bound to it.
      const refreshes = stack.op.stats.dpopProofs.filter((p) => p.grantType === 'refresh_token' && p.status === 200)
      expect(refreshes.map((p) => p.jkt)).toEqual([loginKey])
      expect(new Set(stack.op.stats.issued.map((t) => t.jkt))).toEqual(new Set([loginKey]))
      // Every tab sent its proofs with that same key.
      for (const wire of wires) expect(thumbprints(wire.proofs)).toEqual([loginKey])
      // No tab paid use_dpop_nonce twice; after the first tab learned them, none paid at all.
      for (const wire of wires) expect(wire.nonceChallenges.api + wire.nonceChallenges.provider).toBeLessThanOrEqual(1)
      expect(wires.reduce((n, w) => n + w.nonceChallenges.api, 0)).toBe(0)
      expect(wires.reduce((n, w) => n + w.nonceChallenges.provider, 0)).toBe(0)
      expect(stack.api.stats.nonceChallenges).toBe(0)
      const states = await Promise.all(tabs.map(state))
      expect(new Set(states.map((s) => s.expiresAt)).size).toBe(1)
      // And every tab keeps working after the storm, still with the one key.
      expect(await Promise.all(tabs.map((tab) => callApi(tab)))).toEqual(tabs.map(() => 200))
      for (const wire of wires) expect(thumbprints(wire.proofs)).toEqual([loginKey])
    })

    it('the refresh token copied out of IndexedDB is refused from Node, without the key or with another key; the tab goes on', async () => {
      context = await stack.newContext()
      const { page } = await loggedInTab(context, stack)
      const { refreshToken } = await storedTokens(page)
      expect(refreshToken).toEqual(expect.any(String))
      stack.op.resetStats()
      expect(await stealRefresh(stack, refreshToken, false)).toEqual({ status: 400, error: 'invalid_grant' })
      expect(await stealRefresh(stack, refreshToken, true)).toEqual({ status: 400, error: 'invalid_grant' })
      expect(stack.op.stats.grantErrors.filter((e) => e.error === 'invalid_grant').map((e) => e.detail)).toEqual(['failed jkt verification', 'failed jkt verification'])
      expect(stack.op.stats.grants.refresh_token ?? 0).toBe(0)
      // The thief consumed nothing: the tab, which holds the key, still refreshes.
      await skipAhead(page, 31_000)
      expect(await callApi(page)).toBe(200)
      expect(stack.op.stats.grants.refresh_token).toBe(1)
      expect(stack.op.stats.revokedGrants).toBe(0)
    })

    it('a Bearer token_type in the code exchange answer is a downgrade: refused, nothing stored', async () => {
      context = await stack.newContext()
      const downgraded = await downgradeTokenResponses(context, stack, 'authorization_code')
      const page = await openTab(context, stack)
      void page.evaluate(() => (window as any).auth.login()).catch(() => {})
      await signInAtProvider(page, stack)
      await page.waitForURL((url) => url.href.startsWith(stack.appOrigin), { timeout: 15_000 })
      await page.evaluate(() => (window as any).ready)
      expect(downgraded).toHaveLength(1)
      expect(await page.evaluate(() => (window as any).callbackError?.code)).toBe('invalid_response')
      expect((await state(page)).status).toBe('unauthenticated')
      expect(await storedTokens(page)).toBeUndefined()
    })

    it('a Bearer token_type in a refresh answer is refused; the stored tokens are not replaced', async () => {
      context = await stack.newContext()
      const { page } = await loggedInTab(context, stack)
      const before = await storedTokens(page)
      const downgraded = await downgradeTokenResponses(context, stack, 'refresh_token')
      await skipAhead(page, 31_000)
      expect(await callApi(page)).toBe('invalid_response')
      expect(downgraded.length).toBeGreaterThanOrEqual(1)
      const after = await storedTokens(page)
      // Whatever the library keeps, none of the downgraded answer's tokens.
      for (const body of downgraded) expect(JSON.stringify(after ?? {})).not.toContain(body.access_token)
      if (after) expect(after.accessToken).toBe(before.accessToken)
    })

    it('logout deletes the key; the next login makes a different one', async () => {
      context = await stack.newContext()
      const { page, wire } = await loggedInTab(context, stack)
      const [first] = thumbprints(wire.proofs)
      expect(await storedCryptoKeys(page)).not.toEqual([])
      await page.evaluate(() => (window as any).auth.logout())
      await until(async () => (await state(page)).status === 'unauthenticated', 10_000, 'logged out')
      expect(await storedCryptoKeys(page)).toEqual([])
      // The provider's session is still there (a local logout): sign in afresh.
      await context.clearCookies()
      const seen = wire.proofs.length
      await login(page, stack)
      const second = thumbprints(wire.proofs.slice(seen))
      expect(second).toHaveLength(1)
      expect(second[0]).not.toBe(first)
      expect(await callApi(page)).toBe(200)
    })

    it('a session ended by invalid_grant deletes the key', async () => {
      context = await stack.newContext()
      const { page } = await loggedInTab(context, stack)
      expect(await storedCryptoKeys(page)).not.toEqual([])
      // The refresh token revoked at the provider (RFC 7009: no proof needed): the next refresh is refused.
      const { refreshToken } = await storedTokens(page)
      const revoked = await fetch(`${stack.op.issuer}/token/revocation`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: refreshToken, token_type_hint: 'refresh_token', client_id: 'demo-spa' }),
      })
      expect(revoked.status).toBe(200)
      stack.op.resetStats()
      await skipAhead(page, 31_000)
      await callApi(page)
      await until(async () => (await state(page)).status === 'unauthenticated', 10_000, 'session ended')
      expect(stack.op.stats.grantErrors.map((e) => e.error)).toContain('invalid_grant')
      expect(await storedCryptoKeys(page)).toEqual([])
    })
  })
}

describe('DPoP and PAR together', () => {
  let stack: Stack
  beforeAll(async () => {
    stack = await startStack({ page: { dpop: true, pushedAuthorization: true }, provider: { dpop: { requireNonce: true }, apiResource: true }, api: { requireDPoP: true } })
  })
  afterAll(async () => {
    await stack?.stop()
  })

  it('the pushed request carries a proof and dpop_jkt of the key the tokens are bound to', async () => {
    const context = await stack.newContext()
    stack.op.resetStats()
    const { page, wire } = await loggedInTab(context, stack)
    const [jkt] = thumbprints(wire.proofs)
    const pushed = stack.op.stats.dpopProofs.filter((p) => p.path === '/request')
    expect(pushed.filter((p) => p.status === 201).map((p) => p.jkt)).toEqual([jkt])
    // The code was bound to that key (dpop_jkt, from the pushed request's proof).
    expect(stack.op.stats.dpopJkt).toEqual([jkt])
    expect(stack.op.stats.withoutProof['/request'] ?? 0).toBe(0)
    expect(stack.op.stats.issued.filter((t) => t.kind === 'RefreshToken').map((t) => t.jkt)).toEqual([jkt])
    expect(await callApi(page)).toBe(200)
    await context.close()
  })
})

describe('the demo API verifies proofs itself (oauth4webapi in Node as the client)', () => {
  // Proves the checks the browser tests lean on: a DPoP-bound JWT access token from the real provider
  // (client_credentials of the confidential client), presented in ways the API must refuse.
  let stack: Stack
  let as: oauth.AuthorizationServer
  const insecure = { [oauth.allowInsecureRequests]: true }
  const client = { client_id: 'api-test' }
  beforeAll(async () => {
    stack = await startStack({ confidential: { clientId: 'api-test', clientSecret: 'secret' }, provider: { dpop: { requireNonce: true }, apiResource: true }, api: { requireDPoP: true, requireNonce: true } })
    const issuer = new URL(stack.op.issuer)
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure))
  })
  afterAll(async () => {
    await stack?.stop()
  })

  async function boundToken(DPoP: oauth.DPoPHandle): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      const response = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic('secret'), { scope: 'api' }, { ...insecure, DPoP })
      try {
        return (await oauth.processClientCredentialsResponse(as, client, response)).access_token
      } catch (err) {
        if (attempt > 0 || !oauth.isDPoPNonceError(err)) throw err
      }
    }
  }
  const me = () => new URL(`${stack.appOrigin}/api/me`)
  /** A call with oauth4webapi's proof (and its nonce handling: one retry). */
  async function call(token: string, DPoP: oauth.DPoPHandle, url = me()): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      const response = await oauth.protectedResourceRequest(token, 'GET', url, undefined, undefined, { ...insecure, DPoP }).catch((err) => {
        if (attempt === 0 && oauth.isDPoPNonceError(err)) return undefined
        throw err
      })
      if (response) return response
    }
  }

  it('accepts the key the token is bound to, with the nonce after one use_dpop_nonce', async () => {
    const DPoP = oauth.DPoP({}, await oauth.generateKeyPair('ES256'))
    const token = await boundToken(DPoP)
    stack.api.stats.nonceChallenges = 0
    expect((await call(token, DPoP)).status).toBe(200)
    expect((await call(token, DPoP)).status).toBe(200)
    expect(stack.api.stats.nonceChallenges).toBe(1)
    stack.api.rotateNonce()
    expect((await call(token, DPoP)).status).toBe(200)
    expect(stack.api.stats.nonceChallenges).toBe(2)
  })

  it('refuses another key, a Bearer use of the bound token, a proof for another URL, and a replayed proof', async () => {
    const DPoP = oauth.DPoP({}, await oauth.generateKeyPair('ES256'))
    const token = await boundToken(DPoP)
    expect((await call(token, DPoP)).status).toBe(200)
    const challenge = (r: Response) => [r.status, r.headers.get('www-authenticate')?.match(/error="([^"]+)"/)?.[1]]

    const thief = oauth.DPoP({}, await oauth.generateKeyPair('ES256'))
    await call(token, thief).then(
      (r) => expect(challenge(r)).toEqual([401, 'invalid_token']),
      (err) => expect(err).toBeInstanceOf(oauth.WWWAuthenticateChallengeError),
    )
    const bearer = await fetch(me(), { headers: { authorization: `Bearer ${token}` } })
    expect(challenge(bearer)).toEqual([401, 'invalid_token'])

    // A proof made for another URL, presented here.
    let proof = ''
    await oauth.protectedResourceRequest(token, 'GET', new URL(`${stack.appOrigin}/api/other`), undefined, undefined, {
      ...insecure,
      DPoP,
      [oauth.customFetch]: async (_url, init) => {
        proof = new Headers(init.headers).get('dpop')!
        return new Response('{}', { status: 200 })
      },
    })
    const elsewhere = await fetch(me(), { headers: { authorization: `DPoP ${token}`, dpop: proof } })
    expect(challenge(elsewhere)).toEqual([401, 'invalid_token'])

    // The same proof twice: the second is a replay.
    await oauth.protectedResourceRequest(token, 'GET', me(), undefined, undefined, {
      ...insecure,
      DPoP,
      [oauth.customFetch]: async (_url, init) => {
        proof = new Headers(init.headers).get('dpop')!
        return new Response('{}', { status: 200 })
      },
    })
    const once = await fetch(me(), { headers: { authorization: `DPoP ${token}`, dpop: proof } })
    const twice = await fetch(me(), { headers: { authorization: `DPoP ${token}`, dpop: proof } })
    expect(once.status).toBe(200)
    expect(challenge(twice)).toEqual([401, 'invalid_dpop_proof'])
    expect(stack.api.stats.replays).toBe(1)
  })
})

/** Rewrites `token_type` to Bearer in the provider's answers to one grant type, as a hostile proxy would; returns the rewritten bodies. */
async function downgradeTokenResponses(context: BrowserContext, stack: Stack, grantType: string): Promise<{ access_token: string }[]> {
  const rewritten: { access_token: string }[] = []
  await context.route(`${stack.op.issuer}/token`, async (route) => {
    const request = route.request()
    if (request.method() !== 'POST' || new URLSearchParams(request.postData() ?? '').get('grant_type') !== grantType) return route.continue()
    const response = await route.fetch()
    const body = await response.json().catch(() => undefined)
    if (!body?.access_token) return route.fulfill({ response })
    rewritten.push(body)
    await route.fulfill({ response, json: { ...body, token_type: 'Bearer' } })
  })
  return rewritten
}

import { beforeEach, describe, expect, it, vi } from 'vitest'
import { AuthError, type AuthEvent } from '../../src/index.js'
import { APP, fakeProvider, installFakeLocks, ISSUER, logIn, openTab, REDIRECT, startLogin } from './helpers.js'

// Issue F, "tests the review found weak": each test here fails when its requirement is removed.
// The mutation that was tried against each is named in its comment.

beforeEach(() => {
  installFakeLocks()
})

const b64url = (bytes: ArrayBuffer | Uint8Array) => Buffer.from(bytes as Uint8Array).toString('base64url')
const s256 = async (verifier: string) => b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)))
const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })

async function rejection(promise: Promise<unknown>): Promise<AuthError> {
  const err = await promise.then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(AuthError)
  return err as AuthError
}

describe('a pending login is bound to its issuer, client and redirect URI', () => {
  // Mutation tried: deleting the `pending.binding !== binding(config)` check in finishLogin.
  // Then the other-client case logs in (the fake provider, like a lax one, does not bind codes
  // to clients), the other-issuer case fails on discovery (network) and the other-redirect case
  // on the code exchange (invalid_grant), not with state_mismatch before any request.
  it.each([
    ['another client', { clientId: 'other-spa' }, REDIRECT],
    ['another issuer', { issuer: 'https://op2.example' }, REDIRECT],
    ['another redirect URI', { redirectUri: `${APP}/callback2` }, `${APP}/callback2`],
  ])('a callback handled by a client for %s is refused before any request; nothing stored', async (_, other, redirect) => {
    const op = fakeProvider()
    const starter = openTab(op, { name: 'shared' })
    const callback = new URL(op.authorize(await startLogin(starter)))
    const handler = openTab(op, { name: 'shared', ...other })
    const sentBefore = op.fetch.mock.calls.length
    const err = await rejection(handler.handleRedirect(redirect + callback.search))
    expect(err.code).toBe('state_mismatch')
    expect(err.message).toMatch(/another provider, client or redirect URI/)
    expect(op.fetch.mock.calls.length).toBe(sentBefore)
    expect(handler.getState().status).toBe('unauthenticated')
    await expect(starter.getAccessToken()).rejects.toMatchObject({ code: 'login_required' })
  })
})

describe('the cross-tab logout after invalid_grant', () => {
  // Mutation tried: deleting `deps.tabs.announce({ type: 'logout', gen: stored.gen })` in
  // src/refresh.ts. Tab b then stays "authenticated" with a token of a revoked grant.
  it('a tab that did not refresh learns of the ended session at once, without a request of its own', async () => {
    const op = fakeProvider({ token: (p) => (p.get('grant_type') === 'refresh_token' ? json({ error: 'invalid_grant' }, 400) : undefined) })
    const a = openTab(op)
    await logIn(a, op)
    const b = openTab(op)
    await vi.waitFor(() => expect(b.getState().status).toBe('authenticated'))
    const events: AuthEvent['type'][] = []
    b.subscribe((_, event) => void events.push(event.type))
    await expect(a.getAccessToken({ forceRefresh: true })).rejects.toMatchObject({ code: 'login_required', error: 'invalid_grant' })
    await vi.waitFor(() => expect(b.getState().status).toBe('unauthenticated'), { timeout: 1000 })
    expect(events).toEqual(['logout'])
    expect(op.requests('/token', 'refresh_token')).toHaveLength(1)
  })
})

describe('authorization request parameters the app cannot override', () => {
  const PROTECTED = ['response_type', 'client_id', 'redirect_uri', 'code_challenge', 'code_challenge_method', 'state', 'nonce', 'scope'] as const
  const evil = Object.fromEntries(PROTECTED.map((name) => [name, `evil-${name}`]))

  // Mutation tried: spreading `...options.params` (or `...config.authorizationParams`) after the
  // library's own parameters in startLogin. Every value below then comes back as evil-<name>.
  // Decision on scope: it is config.scope, always; a `scope` in params never replaces it (so what
  // the token endpoint grants never silently diverges from the configuration).
  it.each([
    ['login({ params })', {}, evil],
    ['authorizationParams', { authorizationParams: evil }, undefined],
  ])('%s: each protected parameter is sent once, with the library\'s value, and the login completes', async (_, options, params) => {
    const op = fakeProvider()
    const auth = openTab(op, { ...options, scope: 'openid offline_access' })
    const url = new URL(await startLogin(auth, params ? { params } : undefined))
    const p = url.searchParams
    for (const name of PROTECTED) expect(p.getAll(name), name).toHaveLength(1)
    expect(Object.fromEntries(PROTECTED.map((name) => [name, p.get(name)]))).toMatchObject({
      response_type: 'code',
      client_id: 'spa',
      redirect_uri: REDIRECT,
      code_challenge_method: 'S256',
      scope: 'openid offline_access',
    })
    for (const name of ['state', 'nonce', 'code_challenge']) expect(p.get(name)).toMatch(/^[\w-]{43}$/)
    // The state, nonce and challenge sent are the ones the library checks: the login completes.
    await auth.handleRedirect(op.authorize(url.href))
    expect(auth.getState().status).toBe('authenticated')
  })
})

describe('the PKCE verifier', () => {
  // Mutation tried: `const verifier = Math.random().toString(36).slice(2).repeat(5)` in
  // startLogin (or any source other than crypto.getRandomValues): no recorded random output
  // hashes to the challenge.
  it('1,000 verifiers: each is 32 bytes of crypto.getRandomValues, base64url (43 unreserved chars), unique, and challenge = b64url(sha256(verifier))', { timeout: 60_000 }, async () => {
    const op = fakeProvider()
    const auth = openTab(op)
    const random = vi.spyOn(crypto, 'getRandomValues')
    const verifiers = new Set<string>()
    for (let i = 0; i < 1000; i++) {
      const from = random.mock.results.length
      const challenge = new URL(await startLogin(auth)).searchParams.get('code_challenge')!
      // Candidates: what getRandomValues handed out during this login, encoded as the verifier would be.
      const candidates = random.mock.results.slice(from).map((r) => b64url(r.value as Uint8Array))
      let verifier: string | undefined
      for (const candidate of candidates) if ((await s256(candidate)) === challenge) verifier = candidate
      expect(verifier, `login ${i}: no getRandomValues output hashes to the challenge`).toBeDefined()
      expect(verifier).toMatch(/^[A-Za-z0-9\-._~]{43,128}$/)
      verifiers.add(verifier!)
    }
    expect(verifiers.size).toBe(1000)
    // And the verifier found is the one the token request carries.
    const url = await startLogin(auth)
    const candidates = random.mock.results.slice(-8).map((r) => b64url(r.value as Uint8Array))
    await auth.handleRedirect(op.authorize(url))
    expect(candidates).toContain(op.requests('/token', 'authorization_code')[0].params.get('code_verifier'))
  })
})

describe('a provider without code_challenge_methods_supported', () => {
  // Mutation tried: `if (!as.code_challenge_methods_supported?.includes('S256')) throw` in
  // startLogin (refusing providers that do not advertise PKCE): login() then fails with config.
  const op = () => fakeProvider({ metadata: { code_challenge_methods_supported: undefined } })

  it('still gets S256, state and nonce, and the login completes with the verifier that matches', async () => {
    const provider = op()
    expect(provider.metadata).not.toHaveProperty('code_challenge_methods_supported', expect.anything())
    const auth = openTab(provider)
    const url = new URL(await startLogin(auth))
    expect(url.searchParams.get('code_challenge_method')).toBe('S256')
    expect(url.searchParams.get('state')).toMatch(/^[\w-]{43}$/)
    expect(url.searchParams.get('nonce')).toMatch(/^[\w-]{43}$/)
    await auth.handleRedirect(provider.authorize(url.href))
    const verifier = provider.requests('/token', 'authorization_code')[0].params.get('code_verifier')!
    expect(await s256(verifier)).toBe(url.searchParams.get('code_challenge'))
    expect(auth.getState().status).toBe('authenticated')
  })

  it('still checks state and nonce', async () => {
    const provider = op()
    const auth = openTab(provider)
    const callback = new URL(provider.authorize(await startLogin(auth)))
    callback.searchParams.set('state', 'forged')
    expect((await rejection(auth.handleRedirect(callback.href))).code).toBe('state_mismatch')
    const noNonce = fakeProvider({ metadata: { code_challenge_methods_supported: undefined }, tamper: { claims: ({ nonce: _, ...c }) => c } })
    const other = openTab(noNonce)
    expect((await rejection(logIn(other, noNonce))).code).toBe('invalid_response')
    expect(other.getState().status).toBe('unauthenticated')
  })
})

describe('a state that belongs to another pending login', () => {
  // Mutation tried: one verifier per page instead of per attempt
  // (`const verifier = (cached ??= oauth.generateRandomCodeVerifier())`): the mixed callback
  // then logs in with the other attempt's code.
  it("login A's code with login B's state is refused (PKCE binds the code to A's verifier); nothing stored", async () => {
    const op = fakeProvider()
    const a = openTab(op)
    const b = openTab(op)
    const urlA = new URL(await startLogin(a))
    const urlB = new URL(await startLogin(b))
    const codeA = new URL(op.authorize(urlA.href)).searchParams.get('code')!
    const callbackB = new URL(op.authorize(urlB.href))
    const mixed = new URL(callbackB)
    mixed.searchParams.set('code', codeA)
    const err = await rejection(a.handleRedirect(mixed.href))
    expect(err.code).toBe('invalid_grant')
    // The token request carried B's verifier (the login the state belongs to) with A's code.
    const request = op.requests('/token', 'authorization_code')[0].params
    expect(request.get('code')).toBe(codeA)
    expect(await s256(request.get('code_verifier')!)).toBe(urlB.searchParams.get('code_challenge'))
    expect(a.getState().status).toBe('unauthenticated')
    await expect(b.getAccessToken()).rejects.toMatchObject({ code: 'login_required' })
    // B's state was used up by the mixed callback: its genuine callback is now a replay.
    expect((await rejection(b.handleRedirect(callbackB.href))).code).toBe('state_mismatch')
    void ISSUER
  })
})

describe('authorization parameters that could replace the request', () => {
  it.each(['request', 'request_uri', 'response_mode'])('%s is refused with a config error, before anything is stored or sent', async (name) => {
    const op = fakeProvider()
    await expect(openTab(op, { authorizationParams: { [name]: 'x' } }).login()).rejects.toMatchObject({ code: 'config' })
    await expect(openTab(op).login({ params: { [name]: 'x' } })).rejects.toMatchObject({ code: 'config' })
  })
})

describe('returnTo read back from storage', () => {
  it.each(['//evil.example/x', '/.//evil.example/x', '/..//evil.example', '/./%2e/..//evil.example', 'https://evil.example/'])('is checked again: a pending record rewritten to %s comes back as /', async (hostile) => {
    const op = fakeProvider()
    const auth = openTab(op)
    const url = await startLogin(auth, { returnTo: '/inbox' })
    const state = new URL(url).searchParams.get('state')!
    // A script (or a bug) rewrote the stored attempt.
    const { createStore, get, set } = await import('idb-keyval')
    const stores = await indexedDB.databases()
    const name = stores.map((d) => d.name!).find((n) => n.startsWith('oauth-tabs:test-'))!
    const kv = createStore(name, 'kv')
    const pending = (await get(`pending:${state}`, kv)) as Record<string, unknown>
    await set(`pending:${state}`, { ...pending, returnTo: hostile }, kv)
    const result = await openTab(op).handleRedirect(op.authorize(url))
    expect(result?.returnTo).toBe('/')
  })
})

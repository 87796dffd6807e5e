import { createStore, del, get } from 'idb-keyval'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { AuthError, type Auth, type AuthEvent } from '../../src/index.js'
import { createDPoP } from '../../src/dpop.js'
import { createKeyValueStore } from '../../src/store.js'
import { APP, fakeProvider, installFakeLocks, ISSUER, logIn, openTab, startLogin, type FakeProvider, type FakeProviderOptions } from './helpers.js'

beforeEach(() => {
  installFakeLocks()
})

const sha256 = async (text: string) => Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))).toString('base64url')

/** What the client `name` keeps in IndexedDB under `key` (as another tab would read it). */
const stored = (name: string, key: string) => get(key, createStore(`oauth-tabs:${name}`, 'kv')) as Promise<any>

/** A fake provider with DPoP and tabs of one client `name` with `dpop: true`. */
function setup(options: FakeProviderOptions = {}, name = 'dpop') {
  const op = fakeProvider(options)
  const tab = (extra: Parameters<typeof openTab>[1] = {}) => openTab(op, { name, dpop: true, ...extra })
  return { op, tab }
}

async function failure(promise: Promise<unknown>): Promise<AuthError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(AuthError)
  return err as AuthError
}

describe('the DPoP key', () => {
  it('is one non-extractable ES256 key pair kept in IndexedDB, named in the authorization request (dpop_jkt)', async () => {
    const { op, tab } = setup()
    const auth = tab()
    const url = new URL(await startLogin(auth))
    const record = await stored('dpop', 'dpop-key')
    expect(record.pair.privateKey).toMatchObject({ extractable: false, type: 'private', algorithm: { name: 'ECDSA', namedCurve: 'P-256' } })
    expect(record.pair.privateKey.usages).toEqual(['sign'])
    // Structured-cloned through IndexedDB, and still impossible to export.
    await expect(crypto.subtle.exportKey('jwk', record.pair.privateKey)).rejects.toThrow()
    await expect(crypto.subtle.exportKey('pkcs8', record.pair.privateKey)).rejects.toThrow()
    const jwk = await crypto.subtle.exportKey('jwk', record.pair.publicKey)
    expect(url.searchParams.get('dpop_jkt')).toBe(await sha256(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })))
    expect(record.jkt).toBe(url.searchParams.get('dpop_jkt'))

    await auth.handleRedirect(op.authorize(url.href))
    const [proof] = op.proofs('/token')
    expect(proof.jkt).toBe(record.jkt)
    expect(op.boundTo(await auth.getAccessToken())).toBe(record.jkt)
  })

  it('is one key when tabs create it at the same moment: every tab uses the winner', async () => {
    const stores = Array.from({ length: 5 }, () => createKeyValueStore('race', 'indexeddb', () => {}))
    const generate = vi.spyOn(crypto.subtle, 'generateKey')
    const keys = await Promise.all(stores.map((store) => createDPoP('race', store, () => {}).forLogin()))
    expect(generate).toHaveBeenCalledTimes(5) // each tab made one, outside the transaction
    expect(new Set(keys.map((k) => k.jkt)).size).toBe(1)
    expect((await stored('race', 'dpop-key')).jkt).toBe(keys[0].jkt)
  })

  it('is shared by two tabs that log in at once: both codes are bound to the same key', async () => {
    const { op, tab } = setup()
    const [a, b] = [tab(), tab()]
    const assign = vi.spyOn(window.location, 'assign').mockImplementation(() => {})
    void a.login()
    void b.login()
    await vi.waitFor(() => expect(assign).toHaveBeenCalledTimes(2))
    const urls = assign.mock.calls.map(([url]) => new URL(String(url)))
    expect(urls[0].searchParams.get('dpop_jkt')).toBeTruthy()
    expect(urls[0].searchParams.get('dpop_jkt')).toBe(urls[1].searchParams.get('dpop_jkt'))
    assign.mockRestore()
    await b.handleRedirect(op.authorize(urls[1].href))
    await a.handleRedirect(op.authorize(urls[0].href))
    expect(new Set(op.proofs('/token').map((p) => p.jkt))).toEqual(new Set([urls[0].searchParams.get('dpop_jkt')]))
    expect((await a.fetch('https://api.example/me')).status).toBe(200)
    expect((await b.fetch('https://api.example/me')).status).toBe(200)
  })

  it('is kept in this tab\'s memory, with a warning, where IndexedDB cannot be used', async () => {
    const { op, tab } = setup()
    const auth = tab({ storage: 'memory' })
    const warnings: string[] = []
    auth.subscribe((_, event: AuthEvent) => event.type === 'warning' && warnings.push(String(event.message)))
    const url = await startLogin(auth)
    // The redirect loses a memory key, so the request names none; the code exchange makes it.
    expect(new URL(url).searchParams.has('dpop_jkt')).toBe(false)
    await auth.handleRedirect(op.authorize(url))
    expect(op.boundTo(await auth.getAccessToken())).toBe(op.proofs('/token')[0].jkt)
    expect((await auth.fetch('https://api.example/me')).status).toBe(200)
    await vi.waitFor(() => expect(warnings.some((w) => w.includes('DPoP key kept in this tab\'s memory'))).toBe(true))
    expect(await stored('dpop', 'dpop-key')).toBeUndefined()
  })
})

describe('proofs', () => {
  it('on auth.fetch: Authorization: DPoP and a fresh proof with htm, htu without query or fragment, iat, jti and ath', async () => {
    const { op, tab } = setup()
    const auth = tab()
    await logIn(auth, op)
    const token = await auth.getAccessToken()
    const before = Math.floor(Date.now() / 1000)
    const get = await auth.fetch('https://api.example/me?page=2#top')
    const post = await auth.fetch(new Request('https://api.example/items', { method: 'POST', body: 'x' }))
    expect([get.status, post.status]).toEqual([200, 200])
    const sent = op.requests('/me')[0].headers
    expect(sent.get('authorization')).toBe(`DPoP ${token}`)
    const [me] = op.proofs('/me')
    const [items] = op.proofs('/items')
    expect(me.header).toEqual({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty: 'EC', crv: 'P-256', x: expect.any(String), y: expect.any(String) } })
    expect(me.claims).toMatchObject({ htm: 'GET', htu: 'https://api.example/me', ath: await sha256(token) })
    expect(items.claims).toMatchObject({ htm: 'POST', htu: 'https://api.example/items', ath: await sha256(token) })
    expect(me.claims.iat).toBeGreaterThanOrEqual(before - 1)
    expect(me.claims.iat).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000))
    expect(me.claims.nonce).toBeUndefined()
    const all = [...op.proofs('/token'), me, items]
    expect(new Set(all.map((p) => p.claims.jti)).size).toBe(all.length)
    expect(new Set(all.map((p) => p.jkt)).size).toBe(1)
    expect(JSON.stringify(me.header)).not.toContain('"d"')
  })

  it('on the code exchange and a refresh, with the same key; the refresh token needs that key', async () => {
    const { op, tab } = setup({ expiresIn: 0 })
    const auth = tab()
    await logIn(auth, op)
    await auth.getAccessToken()
    const [code, refresh] = op.proofs('/token')
    expect(code.claims).toMatchObject({ htm: 'POST', htu: `${ISSUER}/token` })
    expect(code.claims.ath).toBeUndefined()
    expect(refresh.jkt).toBe(code.jkt)
    expect(op.requests('/token', 'refresh_token')).toHaveLength(1)
    expect(auth.getState().status).toBe('authenticated')
  })

  it('on the pushed authorization request (PAR), binding the code to the key', async () => {
    const { op, tab } = setup()
    const auth = tab({ pushedAuthorization: true })
    const url = await startLogin(auth)
    expect([...new URL(url).searchParams.keys()].sort()).toEqual(['client_id', 'request_uri'])
    const [push] = op.proofs('/par')
    expect(push.claims).toMatchObject({ htm: 'POST', htu: `${ISSUER}/par` })
    expect(op.requests('/par')[0].params.get('dpop_jkt')).toBe(push.jkt)
    await auth.handleRedirect(op.authorize(url))
    expect(op.proofs('/token')[0].jkt).toBe(push.jkt)
    expect((await auth.fetch('https://api.example/me')).status).toBe(200)
  })

  it('through a token proxy: sent to the proxy, made for the provider\'s token endpoint (htu), DPoP-Nonce honoured', async () => {
    // A stand-in for oauth-tabs/server: forwards the DPoP header unchanged, returns DPoP-Nonce.
    const forward = async (request: Request) => {
      const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' }
      if (request.headers.has('dpop')) headers.dpop = request.headers.get('dpop')!
      const answer = await op.fetch(`${ISSUER}/token`, { method: 'POST', headers, body: await request.text() })
      return new Response(await answer.text(), { status: answer.status, headers: answer.headers })
    }
    const op: FakeProvider = fakeProvider({ api: (request) => (new URL(request.url).pathname === '/api/oauth/token' ? forward(request) : undefined), dpopNonce: 'as' })
    const auth = openTab(op, { dpop: true, tokenProxy: `${APP}/api/oauth` })
    await logIn(auth, op)
    const sent = op.requests('/api/oauth/token')
    expect(sent).toHaveLength(2) // the nonce challenge, then the exchange
    expect(sent.map((r) => r.headers.get('dpop'))).toEqual(op.proofs('/token').map((p) => p.jws))
    expect(op.proofs('/token').map((p) => p.claims.htu)).toEqual([`${ISSUER}/token`, `${ISSUER}/token`])
    expect(op.proofs('/token')[1].claims.nonce).toBe(op.nonces.as)
    expect(auth.getState().status).toBe('authenticated')
  })
})

describe('nonces', () => {
  it('a use_dpop_nonce answer from the token endpoint costs one retry; the next request carries the nonce', async () => {
    const { op, tab } = setup({ dpopNonce: 'as' })
    const auth = tab()
    await logIn(auth, op)
    expect(op.requests('/token', 'authorization_code')).toHaveLength(2)
    expect(op.proofs('/token').map((p) => p.claims.nonce)).toEqual([undefined, 'as-nonce-1'])
    await auth.getAccessToken({ forceRefresh: true })
    expect(op.requests('/token', 'refresh_token')).toHaveLength(1)
    expect(op.proofs('/token')[2].claims.nonce).toBe('as-nonce-1')
    // The server rotates its nonce: one retry again, never a loop.
    op.nonces.as = 'as-nonce-2'
    await auth.getAccessToken({ forceRefresh: true })
    expect(op.requests('/token', 'refresh_token')).toHaveLength(3)
    expect(auth.getState().status).toBe('authenticated')
  })

  it('a refresh that the provider answers with use_dpop_nonce every time fails after one retry', async () => {
    const { op, tab } = setup({ dpopNonce: 'as' })
    const auth = tab()
    await logIn(auth, op)
    const refreshes = op.requests('/token', 'refresh_token').length
    const original = op.nonces.as
    // A broken server: a new nonce on every answer.
    let n = 0
    Object.defineProperty(op.nonces, 'as', { get: () => `${original}-${n++}` })
    const error = await failure(auth.getAccessToken({ forceRefresh: true }))
    expect(error.error).toBe('use_dpop_nonce')
    expect(op.requests('/token', 'refresh_token').length - refreshes).toBe(2)
  })

  it('WWW-Authenticate: DPoP error="use_dpop_nonce" from an API costs one retry, paid once for every tab', async () => {
    const { op, tab } = setup({ dpopNonce: 'api' })
    const a = tab()
    const b = tab()
    await logIn(a, op)
    await vi.waitFor(() => expect(b.getState().status).toBe('authenticated'))
    // Tab B is running (it called the app's own origin) before tab A learns api.example's nonce.
    expect((await b.fetch(`${APP}/me`)).status).toBe(200)
    const response = await a.fetch('https://api.example/me', { method: 'POST', body: 'kept' })
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ body: 'kept' })
    expect(op.proofs('/me').map((p) => [p.url.origin, p.claims.nonce])).toEqual([
      [APP, undefined],
      [APP, 'api-nonce-1'],
      ['https://api.example', undefined],
      ['https://api.example', 'api-nonce-1'],
    ])
    // Tab B (open all along: told over the channel) and tab C (opened later: reads it from IndexedDB).
    await vi.waitFor(async () => {
      expect((await stored('dpop', 'dpop-nonces'))?.['https://api.example']).toBe('api-nonce-1')
    })
    expect((await b.fetch('https://api.example/me')).status).toBe(200)
    const c = tab()
    expect((await c.fetch('https://api.example/me')).status).toBe(200)
    expect(op.proofs('/me').slice(4).map((p) => [p.url.origin, p.claims.nonce])).toEqual([
      ['https://api.example', 'api-nonce-1'],
      ['https://api.example', 'api-nonce-1'],
    ])
    expect(op.requests('/me')).toHaveLength(6)
  })

  it('keeps the 401 refresh-once and 403 insufficient_scope behaviour with the DPoP scheme', async () => {
    const { op, tab } = setup()
    const auth = tab()
    await logIn(auth, op)
    op.expireAccessTokens()
    expect((await auth.fetch('https://api.example/me')).status).toBe(200)
    expect(op.requests('/token', 'refresh_token')).toHaveLength(1)
    expect(op.requests('/me')).toHaveLength(2)
    const forbidden = fakeProvider({ api: () => new Response('', { status: 403, headers: { 'www-authenticate': 'DPoP error="insufficient_scope", scope="admin"' } }) })
    const other = openTab(forbidden, { dpop: true, name: 'scoped' })
    await logIn(other, forbidden)
    const error = await failure(other.fetch('https://api.example/admin'))
    expect(error).toMatchObject({ code: 'insufficient_scope', scope: 'admin' })
    expect(forbidden.requests('/token', 'refresh_token')).toHaveLength(0)
  })
})

describe('token types', () => {
  const bearer: FakeProviderOptions['tamper'] = { body: (body) => ({ ...body, token_type: 'Bearer' }) }

  it('refuses a Bearer answer to a DPoP code exchange as a downgrade; nothing is stored', async () => {
    const { op, tab } = setup({ tamper: bearer })
    const auth = tab()
    const url = await startLogin(auth)
    const error = await failure(auth.handleRedirect(op.authorize(url)))
    expect(error.code).toBe('invalid_response')
    expect(error.message).toMatch(/downgrade/)
    expect(await stored('dpop', 'tokens')).toBeUndefined()
    expect(auth.getState().status).toBe('unauthenticated')
  })

  it('refuses a Bearer answer to a DPoP refresh: nothing of it is stored, and the spent refresh token is dropped', async () => {
    let downgrade = false
    const { op, tab } = setup({ tamper: { body: (body) => (downgrade ? { ...body, token_type: 'Bearer' } : body) } })
    const auth = tab()
    await logIn(auth, op)
    const before = await stored('dpop', 'tokens')
    downgrade = true
    const error = await failure(auth.getAccessToken({ forceRefresh: true }))
    expect(error.code).toBe('invalid_response')
    // The old access token (still valid) stays; the refresh token the provider has rotated is never sent again.
    const { refreshToken: _, gen: _g, ...kept } = before
    const after = await stored('dpop', 'tokens')
    expect(after).toMatchObject({ ...kept, gen: before.gen + 1 })
    expect(after.refreshToken).toBeUndefined()
  })

  it('without dpop, still refuses a DPoP token type', async () => {
    const op = fakeProvider({ tamper: { body: (body) => ({ ...body, token_type: 'DPoP' }) } })
    const auth = openTab(op)
    const error = await failure(auth.handleRedirect(op.authorize(await startLogin(auth))))
    expect(error.code).toBe('invalid_response')
    expect(op.proofs('/token')).toHaveLength(0)
  })
})

describe('the key and the session end together', () => {
  it('logout deletes the key in every tab; the next login makes a fresh one', async () => {
    const { op, tab } = setup()
    const a = tab()
    const b = tab()
    await logIn(a, op)
    const first = (await stored('dpop', 'dpop-key')).jkt
    await b.fetch('https://api.example/me') // tab B holds the key in memory
    await a.logout({ endSession: false })
    expect(await stored('dpop', 'dpop-key')).toBeUndefined()
    await vi.waitFor(() => expect(b.getState().status).toBe('unauthenticated'))
    const url = new URL(await startLogin(b))
    const second = url.searchParams.get('dpop_jkt')
    expect(second).toBeTruthy()
    expect(second).not.toBe(first)
    await b.handleRedirect(op.authorize(url.href))
    expect((await a.fetch('https://api.example/me')).status).toBe(200)
    expect(op.proofs('/me').at(-1)!.jkt).toBe(second)
  })

  it('a session ending on invalid_grant deletes the key', async () => {
    let refuse = false
    const { op, tab } = setup({ token: (p) => (refuse && p.get('grant_type') === 'refresh_token' ? Response.json({ error: 'invalid_grant' }, { status: 400 }) : undefined) })
    const auth = tab()
    await logIn(auth, op)
    refuse = true
    expect((await failure(auth.getAccessToken({ forceRefresh: true }))).code).toBe('login_required')
    await vi.waitFor(async () => expect(await stored('dpop', 'dpop-key')).toBeUndefined())
  })

  it('a login whose key was deleted before the callback (a logout in another tab) must start again', async () => {
    const { op, tab } = setup()
    const auth = tab()
    const url = await startLogin(auth)
    await del('dpop-key', createStore('oauth-tabs:dpop', 'kv'))
    expect((await failure(auth.handleRedirect(op.authorize(url)))).code).toBe('login_required')
    expect(op.requests('/token')).toHaveLength(0)
  })

  it('a tab re-reads the key under the lock: a key deleted elsewhere is never used for a refresh', async () => {
    const { op, tab } = setup()
    const auth = tab()
    await logIn(auth, op)
    await auth.fetch('https://api.example/me') // the key is in this tab's memory now
    // Another tab deleted it (its logout), and this tab has not heard yet.
    await del('dpop-key', createStore('oauth-tabs:dpop', 'kv'))
    expect((await failure(auth.getAccessToken({ forceRefresh: true }))).code).toBe('login_required')
    expect(op.requests('/token', 'refresh_token')).toHaveLength(0)
    expect(auth.getState().status).toBe('unauthenticated')
  })
})

describe('tabs', () => {
  it('10 tabs x 20 calls on an expired token: exactly 1 refresh grant, every call with the same key', { timeout: 20_000 }, async () => {
    const { op, tab } = setup({ expiresIn: 0 })
    const tabs: Auth[] = Array.from({ length: 10 }, () => tab())
    await logIn(tabs[0], op)
    await vi.waitFor(() => expect(tabs.every((t) => t.getState().status === 'authenticated')).toBe(true))
    const responses = await Promise.all(tabs.flatMap((t) => Array.from({ length: 20 }, () => t.fetch('https://api.example/me'))))
    expect(responses.every((r) => r.status === 200)).toBe(true)
    expect(op.requests('/token', 'refresh_token')).toHaveLength(1)
    expect(op.revoked).toBe(false)
    expect(op.proofs('/me')).toHaveLength(200)
    expect(new Set([...op.proofs('/token'), ...op.proofs('/me')].map((p) => p.jkt)).size).toBe(1)
  })
})

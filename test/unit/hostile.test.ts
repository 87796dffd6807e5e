import { beforeEach, describe, expect, it, vi } from 'vitest'
import { AuthError } from '../../src/index.js'
import { APP, fakeProvider, hmacIdToken, installFakeLocks, ISSUER, logIn, openTab, publicKeyAsSecret, reachable, startLogin, strangerKey, verifiesAsHmac, type FakeProviderOptions } from './helpers.js'

beforeEach(() => {
  installFakeLocks()
})

/** Logs in against a provider that misbehaves as told; resolves to the error, and checks nothing was stored. */
async function loginError(tamper: FakeProviderOptions['tamper']): Promise<AuthError> {
  const op = fakeProvider({ tamper })
  const auth = openTab(op)
  const err = await logIn(auth, op).then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(AuthError)
  // Nothing of the refused answer is reachable from the error: no token (the fake's at-N, rt-N,
  // a JWT), no verifier (issue F).
  const verifier = op.requests('/token')[0]?.params.get('code_verifier')
  expect(reachable(err).strings.filter((s) => /eyJ|\b(?:at|rt)-\d+\b/.test(s) || (verifier && s.includes(verifier)))).toEqual([])
  expect(auth.getState().status).toBe('unauthenticated')
  // Nothing stored: another tab finds no session either.
  await expect(openTab(op).getAccessToken()).rejects.toMatchObject({ code: 'login_required' })
  return err as AuthError
}

/** Rewrites the payload's `sub`, keeping header and signature: valid claims, broken signature. */
function swapSub(jwt: string, sub: string): string {
  const [header, payload, signature] = jwt.split('.')
  const claims = { ...JSON.parse(Buffer.from(payload, 'base64url').toString()), sub }
  return `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`
}

describe('a hostile provider: the ID token', () => {
  const now = () => Math.floor(Date.now() / 1000)
  it.each<[string, FakeProviderOptions['tamper']]>([
    ['with the wrong iss', { claims: (c) => ({ ...c, iss: 'https://evil.example' }) }],
    ['with the wrong aud', { claims: (c) => ({ ...c, aud: 'another-client' }) }],
    ['with an extra untrusted audience and no azp', { claims: (c) => ({ ...c, aud: ['spa', 'evil'] }) }],
    ['with the wrong nonce', { claims: (c) => ({ ...c, nonce: 'forged' }) }],
    ['without the nonce', { claims: ({ nonce: _, ...c }) => c }],
    ['expired', { claims: (c) => ({ ...c, iat: now() - 7200, exp: now() - 3600 }) }],
    ['without sub', { claims: ({ sub: _, ...c }) => c }],
    ['with alg none', { header: { alg: 'none' } }],
    ['signed with a key the provider does not publish', { key: strangerKey.privateKey }],
    ['whose claims were changed after signing (sub swapped)', { body: (b) => ({ ...b, id_token: swapSub(String(b.id_token), 'mallory') }) }],
  ])('is refused %s; nothing stored', async (_, tamper) => {
    expect((await loginError(tamper)).code).toBe('invalid_response')
  })
})

describe('a hostile provider: HS256 keyed by its own public key (alg confusion)', () => {
  /** Re-signs the ID token the fake would issue, claims unchanged, as a valid HS256 JWS under `secret`. */
  const resign = (secret: Uint8Array, forged: string[]) => async (body: Record<string, unknown>) => {
    const claims = JSON.parse(Buffer.from(String(body.id_token).split('.')[1], 'base64url').toString())
    const id_token = await hmacIdToken(claims, secret)
    forged.push(id_token)
    return { ...body, id_token }
  }
  it.each(Object.entries(publicKeyAsSecret))('a valid HMAC-SHA256 over the claims, keyed by the public key as %s, is refused; nothing stored', async (_, secret) => {
    const forged: string[] = []
    const err = await loginError({ body: resign(secret, forged) })
    expect(err.code).toBe('invalid_response')
    // Refused for the right reason: the ID token's alg is not the expected RS256 (never "try HMAC").
    expect(err.message).toMatch(/"alg"/)
    // The forged token is what the attack needs: an HS256 JWS that verifies under that key.
    expect(forged).toHaveLength(1)
    expect(JSON.parse(Buffer.from(forged[0].split('.')[0], 'base64url').toString())).toEqual({ alg: 'HS256', kid: 'k1' })
    expect(await verifiesAsHmac(forged[0], secret)).toBe(true)
  })
})

describe('a hostile provider: the token response', () => {
  it.each<[string, FakeProviderOptions['tamper'], AuthError['code']]>([
    ['without access_token', { body: ({ access_token: _, ...b }) => b }, 'invalid_response'],
    ['with token_type "mac"', { body: (b) => ({ ...b, token_type: 'mac' }) }, 'invalid_response'],
    ['with token_type "DPoP" (never asked for)', { body: (b) => ({ ...b, token_type: 'DPoP' }) }, 'invalid_response'],
    ['with a non-numeric expires_in', { body: (b) => ({ ...b, expires_in: 'soon' }) }, 'invalid_response'],
    ['that is an array', { body: () => [1, 2] }, 'invalid_response'],
  ])('is refused %s', async (_, tamper, code) => {
    expect((await loginError(tamper)).code).toBe(code)
  })

  it('that is not JSON is a server_error with its status, not a crash', async () => {
    const op = fakeProvider({ token: () => new Response('<html>oops</html>', { status: 200, headers: { 'content-type': 'text/html' } }) })
    const auth = openTab(op)
    await expect(logIn(auth, op)).rejects.toMatchObject({ name: 'AuthError', code: 'server_error', status: 200 })
  })

  it('accepts what RFC 6749 allows: lowercase bearer, no expires_in, no scope, unknown members', async () => {
    const op = fakeProvider({ expiresIn: undefined, tamper: { body: (b) => ({ ...b, token_type: 'bearer', foo: 'bar', ['__proto__']: { polluted: true } }) } })
    const auth = openTab(op)
    await logIn(auth, op)
    expect(auth.getState().status).toBe('authenticated')
    // No expires_in: the documented default lifetime of one hour.
    expect(auth.getState().expiresAt! - Date.now()).toBeGreaterThan(3_500_000)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })
})

describe('hostile callbacks', () => {
  it('a duplicated code is refused before any token request', async () => {
    const op = fakeProvider()
    const auth = openTab(op)
    const callback = new URL(op.authorize(await startLogin(auth)))
    callback.searchParams.append('code', 'second')
    await expect(auth.handleRedirect(callback.href)).rejects.toMatchObject({ code: 'invalid_response' })
    expect(op.requests('/token')).toHaveLength(0)
  })

  it('a huge callback is refused', async () => {
    const op = fakeProvider()
    const auth = openTab(op)
    await expect(auth.handleRedirect(`${APP}/callback?code=c&state=s&junk=${'x'.repeat(20_000)}`)).rejects.toMatchObject({ code: 'state_mismatch' })
  })

  it('two logins started in two tabs complete independently (state bound per attempt)', async () => {
    const op = fakeProvider()
    const a = openTab(op)
    const b = openTab(op)
    const urlA = await startLogin(a)
    const urlB = await startLogin(b)
    expect(new URL(urlA).searchParams.get('state')).not.toBe(new URL(urlB).searchParams.get('state'))
    await b.handleRedirect(op.authorize(urlB))
    await a.handleRedirect(op.authorize(urlA))
    expect(a.getState().status).toBe('authenticated')
  })

  it('an iss from another provider on an error response is not taken as "access denied"', async () => {
    const op = fakeProvider()
    const auth = openTab(op)
    const callback = new URL(op.authorize(await startLogin(auth)))
    callback.searchParams.delete('code')
    callback.searchParams.set('error', 'access_denied')
    callback.searchParams.set('iss', 'https://evil.example')
    await expect(auth.handleRedirect(callback.href)).rejects.toMatchObject({ code: 'invalid_response' })
    void ISSUER
  })
})

describe('resource server answers (RFC 6750 §3)', () => {
  async function signedIn(api: FakeProviderOptions['api']) {
    const op = fakeProvider({ api })
    const auth = openTab(op)
    await logIn(auth, op)
    return { op, auth }
  }

  it('403 insufficient_scope never refreshes and throws with the scope the API needs', async () => {
    const { op, auth } = await signedIn(() => new Response('', { status: 403, headers: { 'www-authenticate': 'Bearer error="insufficient_scope", scope="orders:write", error_description="x"' } }))
    const err = await auth.fetch('https://api.example/orders').catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'AuthError', code: 'insufficient_scope', scope: 'orders:write', status: 403 })
    expect(op.requests('/token', 'refresh_token')).toHaveLength(0)
  })

  it('401 with another error code (invalid_request) is returned, not refreshed', async () => {
    const { op, auth } = await signedIn(() => new Response('', { status: 401, headers: { 'www-authenticate': 'Bearer error="invalid_request"' } }))
    expect((await auth.fetch('https://api.example/x')).status).toBe(401)
    expect(op.requests('/token', 'refresh_token')).toHaveLength(0)
  })

  it('401 invalid_token refreshes once and retries once', async () => {
    let first = true
    const { op, auth } = await signedIn(() => {
      if (!first) return undefined
      first = false
      return new Response('', { status: 401, headers: { 'www-authenticate': 'Bearer realm="api", error="invalid_token", error_description="expired"' } })
    })
    expect((await auth.fetch('https://api.example/x')).status).toBe(200)
    expect(op.requests('/token', 'refresh_token')).toHaveLength(1)
  })
})

describe('network and clock', () => {
  it('keeps using a due but valid token while a slow refresh runs, and refreshes once when back online', async () => {
    let hold: (() => void) | undefined
    const op = fakeProvider({ expiresIn: 100, token: async (p) => (p.get('grant_type') === 'refresh_token' ? (await new Promise<void>((r) => (hold = r)), undefined) : undefined) })
    const auth = openTab(op, { refreshSkew: 90 })
    await logIn(auth, op)
    const old = await auth.getAccessToken()
    const clock = vi.spyOn(Date, 'now').mockReturnValue(Date.now() + 60_000) // due (refreshAt at 50 s), valid until 100 s
    expect(await auth.getAccessToken()).toBe(old)
    expect(await auth.getAccessToken()).toBe(old)
    await vi.waitFor(() => expect(hold).toBeDefined())
    hold!()
    await vi.waitFor(() => expect(auth.getState().expiresAt).toBeGreaterThan(Date.now() + 200_000))
    expect(op.requests('/token', 'refresh_token')).toHaveLength(1)
    clock.mockRestore()
  })

  it('offline: no request, the session stays; the online event refreshes', async () => {
    const op = fakeProvider({ expiresIn: 0 })
    const auth = openTab(op)
    await logIn(auth, op)
    const online = vi.spyOn(navigator, 'onLine', 'get').mockReturnValue(false)
    await expect(auth.getAccessToken()).rejects.toMatchObject({ code: 'network' })
    expect(op.requests('/token', 'refresh_token')).toHaveLength(0)
    online.mockReturnValue(true)
    window.dispatchEvent(new Event('online'))
    await vi.waitFor(() => expect(op.requests('/token', 'refresh_token')).toHaveLength(1))
    expect(auth.getState().status).toBe('authenticated')
  })

  it('takes expiry from expires_in and the receive time, not from a JWT access token that looks expired', async () => {
    const past = Math.floor(Date.now() / 1000) - 3600
    const jwtLike = `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.${Buffer.from(JSON.stringify({ exp: past })).toString('base64url')}.sig`
    const op = fakeProvider({ tamper: { body: (b) => ({ ...b, access_token: jwtLike, expires_in: 300 }) } })
    const auth = openTab(op)
    await logIn(auth, op)
    expect(await auth.getAccessToken()).toBe(jwtLike)
    expect(op.requests('/token', 'refresh_token')).toHaveLength(0)
  })
})

describe('broken storage', () => {
  it('a database that never answers: memory after 5 s, with a warning', { timeout: 15_000 }, async () => {
    vi.spyOn(indexedDB, 'open').mockImplementation(() => ({}) as IDBOpenDBRequest)
    const op = fakeProvider()
    const auth = openTab(op)
    const warnings: string[] = []
    auth.subscribe((_, e) => e.type === 'warning' && warnings.push(e.message!))
    await vi.waitFor(() => expect(auth.getState().status).toBe('unauthenticated'), { timeout: 7000 })
    expect(warnings.join()).toContain('TimeoutError')
    await logIn(auth, op)
    await expect(auth.getAccessToken()).resolves.toMatch(/^at-/)
  })
})

describe('a hostile provider: ID token claims oauth4webapi leaves to us (at login)', () => {
  const now = () => Math.floor(Date.now() / 1000)
  it.each<[string, FakeProviderOptions['tamper']]>([
    ['with an iat two minutes in the future', { claims: (c) => ({ ...c, iat: now() + 120 }) }],
    ['with an iat a day in the future', { claims: (c) => ({ ...c, iat: now() + 86_400, exp: now() + 90_000 }) }],
    ['issued to another client: one audience (a string), a foreign azp', { claims: (c) => ({ ...c, azp: 'evil' }) }],
    ['issued to another client: one audience (an array), a foreign azp', { claims: (c) => ({ ...c, aud: ['spa'], azp: 'evil' }) }],
  ])('is refused %s; nothing stored', async (_, tamper) => {
    expect(await loginError(tamper)).toMatchObject({ code: 'invalid_response' })
  })

  it.each<[string, FakeProviderOptions['tamper']]>([
    ['an iat 20 s ahead (within the clock tolerance)', { claims: (c) => ({ ...c, iat: now() + 20 }) }],
    ['azp equal to the client', { claims: (c) => ({ ...c, azp: 'spa' }) }],
    ['several audiences with azp equal to the client', { claims: (c) => ({ ...c, aud: ['spa', 'api'], azp: 'spa' }) }],
  ])('is accepted with %s', async (_, tamper) => {
    const op = fakeProvider({ tamper })
    const auth = openTab(op)
    await logIn(auth, op)
    expect(auth.getState()).toMatchObject({ status: 'authenticated', user: { sub: 'ada' } })
  })
})

import { inspect, format } from 'node:util'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { AuthError } from '../../src/index.js'
import { fakeProvider, idToken, installFakeLocks, ISSUER, logIn, openTab, reachable, startLogin, strangerKey, type FakeProviderOptions } from './helpers.js'

// Issue F, "tokens in error objects": when a token response is refused, nothing of it but the
// provider's error, error_description, error_uri and the status may be reachable from the
// AuthError: not through `cause` (at any depth), not through non-enumerable properties, not in
// JSON.stringify, String(), console output or a structuredClone.

beforeEach(() => {
  installFakeLocks()
})

/** A random token-shaped string (as providers issue: 32 random bytes, base64url), with a tag. */
const secret = (tag: string) => `${tag}_${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')}`

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } })

/** Every form in which an error reaches a log or a reporter, as text. */
function renderings(err: AuthError): string[] {
  const printed: unknown[][] = []
  const spy = vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void printed.push(args))
  console.error('refresh failed', err)
  console.error(err)
  spy.mockRestore()
  const clone = structuredClone(err)
  return [
    JSON.stringify(err),
    String(err),
    `${err.message} ${err.stack}`,
    // What Node's console.error prints (util.format -> inspect, cause chain included).
    ...printed.map((args) => format(...args)),
    inspect(err, { showHidden: true, depth: Infinity, getters: true }),
    ...reachable(clone).strings,
  ]
}

/**
 * Asserts that no secret is reachable from `err` in any way, and that no Response, Request,
 * Headers or URLSearchParams is (their contents are hidden from a walk, not from a debugger).
 */
function expectClean(err: unknown, secrets: string[]) {
  expect(err).toBeInstanceOf(AuthError)
  const { strings, kinds } = reachable(err)
  const texts = [...strings, ...renderings(err as AuthError)]
  for (const s of secrets) {
    expect(s.length).toBeGreaterThan(4)
    expect(texts.filter((t) => t.includes(s))).toEqual([])
  }
  // Nothing JWT-shaped either (an ID token or a JWT access token begins with eyJ).
  expect(texts.filter((t) => /eyJ[\w-]{10,}/.test(t))).toEqual([])
  expect(kinds.filter((k) => /Response|Request|Headers|URLSearchParams|ReadableStream|Blob|ArrayBuffer/.test(k))).toEqual([])
}

/** A signed-in tab whose tokens are the given long secrets; `refresh` answers its refresh requests. */
async function signedInWith(refresh: (params: URLSearchParams) => Response | Promise<Response>, extra: FakeProviderOptions = {}) {
  const at0 = secret('at0')
  const rt0 = secret('rt0')
  const op = fakeProvider({
    ...extra,
    token: (params) => (params.get('grant_type') === 'refresh_token' ? refresh(params) : undefined),
    tamper: { ...extra.tamper, body: (b) => ({ ...b, access_token: at0, refresh_token: rt0 }) },
  })
  const auth = openTab(op)
  const authorizeUrl = await startLogin(auth)
  const callback = op.authorize(authorizeUrl)
  await auth.handleRedirect(callback)
  const code = new URL(callback).searchParams.get('code')!
  const verifier = op.requests('/token', 'authorization_code')[0].params.get('code_verifier')!
  return { op, auth, secrets: [at0, rt0, code, verifier] }
}

describe('a refused code exchange', () => {
  it('keeps error, error_description, error_uri and status; not the body with its tokens, the code or the verifier', async () => {
    const leaked = { access_token: secret('at'), refresh_token: secret('rt'), id_token: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJl' }
    const op = fakeProvider({
      token: (params) =>
        params.get('grant_type') === 'authorization_code'
          ? json({ error: 'invalid_grant', error_description: 'code expired', error_uri: 'https://op.example/errors/1', ...leaked }, 400)
          : undefined,
    })
    const auth = openTab(op)
    const callback = op.authorize(await startLogin(auth))
    const err = await auth.handleRedirect(callback).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'invalid_grant', error: 'invalid_grant', error_description: 'code expired', error_uri: 'https://op.example/errors/1', status: 400 })
    const code = new URL(callback).searchParams.get('code')!
    const verifier = op.requests('/token')[0].params.get('code_verifier')!
    expectClean(err, [...Object.values(leaked), code, verifier])
  })

  it('an ID token that fails its checks: nothing of the token response is reachable', async () => {
    const op = fakeProvider({ tamper: { claims: (c) => ({ ...c, nonce: 'forged' }), body: (b) => ({ ...b, access_token: secret('at'), refresh_token: secret('rt') }) } })
    const body: Record<string, string> = {}
    const fetch = op.fetch.getMockImplementation()! as typeof globalThis.fetch
    op.fetch.mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
      const response = await fetch(input, init)
      if (new URL(new Request(input, init).url).pathname === '/token') Object.assign(body, await response.clone().json())
      return response
    })
    const auth = openTab(op)
    const err = await logIn(auth, op).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'invalid_response' })
    expectClean(err, [body.access_token, body.refresh_token, body.id_token, op.requests('/token')[0].params.get('code_verifier')!])
  })

  it('an ID token signed with a key the provider does not publish (signature check): nothing reachable', async () => {
    const op = fakeProvider({ tamper: { key: strangerKey.privateKey } })
    const auth = openTab(op)
    const err = await logIn(auth, op).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'invalid_response' })
    // The fake's tokens are at-N / rt-N: none may appear; nor the verifier.
    const verifier = op.requests('/token')[0].params.get('code_verifier')!
    expectClean(err, [verifier])
    expect(reachable(err).strings.filter((s) => /\b(at|rt)-\d+\b/.test(s))).toEqual([])
  })
})

describe('a refused refresh', () => {
  it('invalid_grant whose body carries a live rotated token set: login_required, body unreachable', async () => {
    const rotated = { access_token: secret('at1'), refresh_token: secret('rt1') }
    const { auth, secrets } = await signedInWith(() => json({ error: 'invalid_grant', error_description: 'grant request is invalid', ...rotated }, 400))
    const err = await auth.getAccessToken({ forceRefresh: true }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'login_required', error: 'invalid_grant', error_description: 'grant request is invalid', status: 400 })
    // The chain is there for debugging, sanitized: AuthError -> AuthError -> a copy of ResponseBodyError.
    expect((err as Error).cause).toMatchObject({ name: 'AuthError', code: 'invalid_grant' })
    expect(((err as Error).cause as Error).cause).toMatchObject({ name: 'ResponseBodyError', code: 'OAUTH_RESPONSE_BODY_ERROR' })
    expectClean(err, [...secrets, ...Object.values(rotated)])
  })

  it('invalid_request with tokens in the body: body unreachable', async () => {
    const rotated = { access_token: secret('at1'), refresh_token: secret('rt1'), id_token: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2ln' }
    const { auth, secrets } = await signedInWith(() => json({ error: 'invalid_request', ...rotated }, 400))
    const err = await auth.getAccessToken({ forceRefresh: true }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'invalid_response', error: 'invalid_request', status: 400 })
    expectClean(err, [...secrets, ...Object.values(rotated)])
  })

  it('an error_description that echoes the refresh token (a gateway echoing its request): redacted', async () => {
    let presented = ''
    const { auth, secrets } = await signedInWith((params) => {
      presented = params.get('refresh_token')!
      return json({ error: 'invalid_grant', error_description: `refresh_token=${presented} is revoked; request was grant_type=refresh_token&refresh_token=${presented}` }, 400)
    })
    const err = (await auth.getAccessToken({ forceRefresh: true }).catch((e: unknown) => e)) as AuthError
    expect(err.error_description).toBe('refresh_token=[redacted] is revoked; request was grant_type=refresh_token&refresh_token=[redacted]')
    expectClean(err, [...secrets, presented])
  })

  it('a body that is not JSON (an HTML page quoting the tokens): server_error, body unreachable', async () => {
    const rt1 = secret('rt1')
    const { auth, secrets } = await signedInWith(() => new Response(`<html><pre>refresh_token=${rt1}</pre></html>`, { status: 200, headers: { 'content-type': 'text/html' } }))
    const err = await auth.getAccessToken({ forceRefresh: true }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'server_error', status: 200 })
    expectClean(err, [...secrets, rt1])
  })

  it('JSON that does not parse, with a token next to the error (the parser quotes the text around it): unreachable', async () => {
    const rt1 = secret('rt1')
    const { auth, secrets } = await signedInWith(() => new Response(`{"refresh_token":"${rt1}"x`, { status: 200, headers: { 'content-type': 'application/json' } }))
    const err = await auth.getAccessToken({ forceRefresh: true }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'server_error' })
    expectClean(err, [...secrets, rt1])
  })

  it('a 502 page quoting the request, three times: the last error holds none of it', async () => {
    let presented = ''
    const { auth, secrets, op } = await signedInWith((params) => {
      presented = params.get('refresh_token')!
      return new Response(`Bad gateway. Upstream request: ${params}`, { status: 502, headers: { 'retry-after': '0' } })
    })
    const err = await auth.getAccessToken({ forceRefresh: true }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'server_error', status: 502 })
    expect(op.requests('/token', 'refresh_token')).toHaveLength(3)
    expectClean(err, [...secrets, presented])
  })

  it('401 invalid_client with a WWW-Authenticate challenge that quotes a secret: config, secret unreachable', async () => {
    const clientSecret = secret('cs')
    const { auth, secrets } = await signedInWith(
      () =>
        new Response('', {
          status: 401,
          headers: { 'www-authenticate': `Basic realm="op", error="invalid_client", error_description="client_secret=${clientSecret} is wrong"` },
        }),
    )
    const err = await auth.getAccessToken({ forceRefresh: true }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'config', status: 401 })
    expectClean(err, [...secrets, clientSecret])
  })

  it('a network failure whose message quotes the request body (a polyfill): unreachable', async () => {
    let presented = ''
    const { auth, secrets } = await signedInWith((params) => {
      presented = params.get('refresh_token')!
      throw new TypeError(`Failed to fetch https://op.example/token with body ${params}`, { cause: { body: String(params) } })
    })
    const err = await auth.getAccessToken({ forceRefresh: true }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'network' })
    expectClean(err, [...secrets, presented])
  })

  it('a refreshed ID token signed with a foreign key: invalid_response, the new token set unreachable', async () => {
    const rotated = { access_token: secret('at1'), refresh_token: secret('rt1') }
    const now = Math.floor(Date.now() / 1000)
    const { auth, secrets } = await signedInWith(async () =>
      json({ ...rotated, token_type: 'Bearer', expires_in: 300, id_token: await idToken({ iss: ISSUER, aud: 'spa', sub: 'ada', iat: now, exp: now + 600 }, undefined, strangerKey.privateKey) }),
    )
    const err = await auth.getAccessToken({ forceRefresh: true }).catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'AuthError', code: 'invalid_response' })
    expectClean(err, [...secrets, ...Object.values(rotated)])
  })
})

describe('AuthError itself', () => {
  it('keeps no Response, body or library error given as cause, whoever constructs it', () => {
    const token = secret('rt')
    const response = new Response(JSON.stringify({ refresh_token: token }), { status: 400 })
    const body = { refresh_token: token }
    for (const cause of [response, body, new URLSearchParams({ refresh_token: token }), `refresh_token=${token}`, Object.assign(new Error(`bad ${token}`), { response, body })]) {
      expectClean(new AuthError('server_error', 'x', { cause }), [token])
    }
  })

  it('redacts token-like text in messages and provider fields, keeps words, codes and paths', () => {
    const token = secret('rt')
    const err = new AuthError('invalid_response', `Refresh refused: invalid_grant (token ${token})`, { error: 'invalid_grant', error_description: `see https://op.example/.well-known/openid-configuration for ${token}` })
    expect(err.message).toBe('Refresh refused: invalid_grant (token [redacted])')
    expect(err.error_description).toBe('see https://op.example/.well-known/openid-configuration for [redacted]')
  })
})

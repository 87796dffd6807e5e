import { afterEach, expect, vi } from 'vitest'
import { createAuth, type Auth, type AuthOptions } from '../../src/index.js'

export const ISSUER = 'https://op.example'
export const APP = 'https://app.example'
export const REDIRECT = `${APP}/callback`

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

const rsa = { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }
/** The fake provider's signing key, published in its JWKS. */
export const providerKey = (await crypto.subtle.generateKey(rsa, true, ['sign', 'verify'])) as CryptoKeyPair
/** A key the provider does not publish (an attacker's). */
export const strangerKey = (await crypto.subtle.generateKey(rsa, true, ['sign', 'verify'])) as CryptoKeyPair
const jwks = { keys: [{ ...(await crypto.subtle.exportKey('jwk', providerKey.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] }

/** Signs an ID token (RS256 with the provider's key unless told otherwise; `alg: none` gives no signature). */
export async function idToken(claims: Record<string, unknown>, header: Record<string, unknown> = { alg: 'RS256', kid: 'k1' }, key = providerKey.privateKey): Promise<string> {
  const input = `${b64(header)}.${b64(claims)}`
  if (header.alg === 'none') return `${input}.`
  const signature = await crypto.subtle.sign('RSASSA-PKCS1-v1_5', key, new TextEncoder().encode(input))
  return `${input}.${Buffer.from(signature).toString('base64url')}`
}

export interface FakeProviderOptions {
  /** Lifetime in seconds (`expires_in`) of tokens from the code grant; undefined omits it. Default 300. */
  expiresIn?: number | undefined
  /** Lifetime of tokens from refresh grants. Default 300. */
  refreshedExpiresIn?: number
  metadata?: Record<string, unknown>
  /** Override the token endpoint's answer; return undefined for the default behaviour. */
  token?: (params: URLSearchParams) => Response | Promise<Response | undefined> | undefined
  /** Override the API's answer. */
  api?: (request: Request) => Response | Promise<Response> | undefined
  /** Override the pushed authorization request endpoint's answer (RFC 9126). */
  par?: (params: URLSearchParams) => Response | undefined
  /** The UserInfo endpoint's claims for a live access token (default `{ sub, name, email }`); a function may answer anything. */
  userinfo?: (token: string) => Record<string, unknown> | Response
  sub?: string
  /** Revoke the whole grant when a used refresh token comes back (oidc-provider does). Default true. */
  reuseRevokes?: boolean
  /** Override the JWKS endpoint's answer (a hung or changing key set); return undefined for the default. */
  jwks?: (request: Request) => Response | Promise<Response> | undefined
  /**
   * DPoP (RFC 9449): proofs are always verified when sent (WebCrypto) and tokens then bound to the key
   * (`token_type: DPoP`, the key's thumbprint as cnf.jkt). `nonce` makes the authorization server
   * (`as`: token and PAR endpoints), the API (`api`) or both demand their nonce (`use_dpop_nonce`).
   */
  dpopNonce?: 'as' | 'api' | 'both'
  /** A hostile provider: change the ID token's claims, header or signing key, or the whole token response. */
  tamper?: {
    claims?: (claims: Record<string, unknown>) => Record<string, unknown>
    header?: Record<string, unknown>
    key?: CryptoKey
    body?: (body: Record<string, unknown>) => unknown
  }
}

/**
 * A fake provider and API behind a fake `fetch`: discovery, authorization code + PKCE
 * check, refresh with rotation and reuse detection (a reused refresh token revokes the
 * grant, as oidc-provider does), revocation, and an API at https://api.example that
 * accepts only live access tokens. It records every request.
 */
export function fakeProvider(options: FakeProviderOptions = {}) {
  const log: { url: URL; method: string; params: URLSearchParams; headers: Headers }[] = []
  const codes = new Map<string, { challenge: string; nonce?: string; redirectUri: string; jkt?: string }>()
  /** Verified DPoP proofs, in order. */
  const proofs: DPoPProof[] = []
  const jtis = new Set<string>()
  /** The key (thumbprint) each access and refresh token is bound to. */
  const bound = new Map<string, string>()
  const serverNonces = { as: 'as-nonce-1', api: 'api-nonce-1' }
  const demands = (where: 'as' | 'api') => options.dpopNonce === where || options.dpopNonce === 'both'
  const pushed = new Map<string, URLSearchParams>()
  const refreshTokens = new Map<string, 'live' | 'used'>()
  const accessTokens = new Set<string>()
  let serial = 0
  let revokedGrant = false
  const expiresIn = 'expiresIn' in options ? options.expiresIn : 300
  const metadata = {
    issuer: ISSUER,
    authorization_endpoint: `${ISSUER}/auth`,
    token_endpoint: `${ISSUER}/token`,
    revocation_endpoint: `${ISSUER}/revoke`,
    end_session_endpoint: `${ISSUER}/logout`,
    jwks_uri: `${ISSUER}/jwks`,
    userinfo_endpoint: `${ISSUER}/userinfo`,
    pushed_authorization_request_endpoint: `${ISSUER}/par`,
    code_challenge_methods_supported: ['S256'],
    authorization_response_iss_parameter_supported: true,
    ...options.metadata,
  }
  const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } })

  async function issue(nonce?: string, lifetime = expiresIn, jkt?: string) {
    serial += 1
    const access = `at-${serial}`
    const refresh = `rt-${serial}`
    if (jkt) {
      bound.set(access, jkt)
      bound.set(refresh, jkt)
    }
    accessTokens.clear()
    accessTokens.add(access)
    refreshTokens.set(refresh, 'live')
    const now = Math.floor(Date.now() / 1000)
    const t = options.tamper ?? {}
    const claims = { iss: ISSUER, aud: 'spa', sub: options.sub ?? 'ada', iat: now, exp: now + 600, ...(nonce ? { nonce } : {}), name: 'Ada' }
    const body = {
      access_token: access,
      token_type: jkt ? 'DPoP' : 'Bearer',
      refresh_token: refresh,
      ...(lifetime === undefined ? {} : { expires_in: lifetime }),
      id_token: await idToken(t.claims ? t.claims(claims) : claims, t.header, t.key),
    }
    return t.body ? t.body(body) : body
  }

  async function handle(request: Request): Promise<Response> {
    const url = new URL(request.url)
    const params = new URLSearchParams(request.method === 'POST' ? await request.clone().text() : url.search)
    log.push({ url, method: request.method, params, headers: request.headers })
    if (url.href === `${ISSUER}/.well-known/openid-configuration`) return json(metadata)
    if (url.href === `${ISSUER}/jwks`) return (await options.jwks?.(request)) ?? json(jwks)
    // RFC 9449 §5, §8: the authorization server checks the proof and, when it demands one, its nonce.
    const atServer = url.href === `${ISSUER}/token` || url.href === `${ISSUER}/par`
    const proof = atServer ? await verifyProof(request, url) : undefined
    if (typeof proof === 'string') return json({ error: 'invalid_dpop_proof', error_description: proof }, 400)
    if (proof && demands('as') && proof.claims.nonce !== serverNonces.as) {
      return json({ error: 'use_dpop_nonce', error_description: 'nonce required' }, 400, { 'dpop-nonce': serverNonces.as })
    }
    const jkt = proof?.jkt
    if (url.href === `${ISSUER}/token`) {
      const custom = await options.token?.(params)
      if (custom) return custom
      if (params.get('grant_type') === 'authorization_code') {
        const pending = codes.get(params.get('code') ?? '')
        codes.delete(params.get('code') ?? '')
        // RFC 9449 §10: a code bound to a key (dpop_jkt) is exchanged only with a proof of that key.
        if (pending?.jkt && pending.jkt !== jkt) return json({ error: 'invalid_grant', error_description: 'dpop_jkt mismatch' }, 400)
        const verifier = params.get('code_verifier') ?? ''
        const digest = Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))).toString('base64url')
        if (!pending || pending.challenge !== digest || pending.redirectUri !== params.get('redirect_uri')) {
          return json({ error: 'invalid_grant', error_description: 'grant request is invalid' }, 400)
        }
        revokedGrant = false
        return json(await issue(pending.nonce, expiresIn, jkt))
      }
      const rt = params.get('refresh_token') ?? ''
      // RFC 9449 §5: a bound refresh token needs a proof of its key (oidc-provider answers invalid_grant).
      if (bound.has(rt) && bound.get(rt) !== jkt) return json({ error: 'invalid_grant', error_description: 'failed jkt verification' }, 400)
      if (refreshTokens.get(rt) === 'used' && options.reuseRevokes !== false) {
        revokedGrant = true
        refreshTokens.clear()
        accessTokens.clear()
      }
      if (revokedGrant || refreshTokens.get(rt) !== 'live') return json({ error: 'invalid_grant', error_description: 'grant request is invalid' }, 400)
      refreshTokens.set(rt, 'used')
      return json(await issue(undefined, options.refreshedExpiresIn ?? 300, jkt))
    }
    if (url.href === `${ISSUER}/par`) {
      const custom = await options.par?.(params)
      if (custom) return custom
      if (params.has('request_uri') || params.get('client_id') !== 'spa') return json({ error: 'invalid_request' }, 400)
      const uri = `urn:ietf:params:oauth:request_uri:${++serial}`
      // RFC 9449 §10.1: a proof on the push binds the code like dpop_jkt (they must agree).
      if (jkt && params.get('dpop_jkt') && params.get('dpop_jkt') !== jkt) return json({ error: 'invalid_dpop_proof' }, 400)
      if (jkt) params.set('dpop_jkt', jkt)
      pushed.set(uri, params)
      return json({ request_uri: uri, expires_in: 60 }, 201)
    }
    if (url.href === `${ISSUER}/userinfo`) {
      const [, scheme, token = ''] = /^(Bearer|DPoP) (.+)$/.exec(request.headers.get('authorization') ?? '') ?? []
      if (!accessTokens.has(token)) return new Response('', { status: 401, headers: { 'www-authenticate': 'Bearer error="invalid_token"' } })
      // A DPoP-bound token needs the DPoP scheme and a proof of its key here too (RFC 9449 §7).
      if (bound.has(token)) {
        const proof = scheme === 'DPoP' ? await verifyProof(request, url, token) : 'DPoP scheme required'
        if (typeof proof !== 'object' || proof.jkt !== bound.get(token)) return new Response('', { status: 401, headers: { 'www-authenticate': 'DPoP error="invalid_token"' } })
      }
      const answer = options.userinfo?.(token) ?? { sub: options.sub ?? 'ada', name: 'Ada Lovelace', email: 'ada@example.test' }
      return answer instanceof Response ? answer : json(answer)
    }
    if (url.href === `${ISSUER}/revoke`) {
      refreshTokens.delete(params.get('token') ?? '')
      return new Response(null, { status: 200 })
    }
    if (url.origin === 'https://api.example' || url.origin === APP) {
      const custom = await options.api?.(request)
      if (custom) return custom
      const [, scheme, token] = /^(Bearer|DPoP) (.+)$/.exec(request.headers.get('authorization') ?? '') ?? []
      if (!token || !accessTokens.has(token)) {
        return new Response('', { status: 401, headers: { 'www-authenticate': `${bound.has(token) ? 'DPoP' : 'Bearer'} error="invalid_token"` } })
      }
      // RFC 9449 §7: a bound token needs the DPoP scheme and a proof of its key for this request.
      if (bound.has(token)) {
        const apiProof = scheme === 'DPoP' ? await verifyProof(request, url, token) : 'DPoP scheme required'
        const dpopError = (error: string, extra: Record<string, string> = {}) =>
          new Response('', { status: 401, headers: { 'www-authenticate': `DPoP error="${error}", algs="ES256"`, ...extra } })
        if (typeof apiProof !== 'object' || apiProof.jkt !== bound.get(token)) return dpopError('invalid_dpop_proof')
        if (demands('api') && apiProof.claims.nonce !== serverNonces.api) return dpopError('use_dpop_nonce', { 'dpop-nonce': serverNonces.api })
      }
      return json({ ok: true, token, body: request.method === 'POST' ? await request.text() : null })
    }
    return new Response('<html>not found</html>', { status: 404, headers: { 'content-type': 'text/html' } })
  }

  return {
    metadata,
    fetch: vi.fn((input: RequestInfo | URL, init?: RequestInit) => handle(new Request(input, init))) as unknown as typeof fetch & ReturnType<typeof vi.fn>,
    /** Requests made to a path of the provider or API, e.g. `/token`. */
    requests: (path: string, grant?: string) => log.filter((r) => r.url.pathname === path && (!grant || r.params.get('grant_type') === grant)),
    get revoked() {
      return revokedGrant
    },
    /** Registers the code the provider would issue for an authorization request URL. */
    authorize(authorizeUrl: string, extra: Record<string, string> = {}) {
      const sent = new URL(authorizeUrl).searchParams
      // A pushed request (RFC 9126): the parameters come from the push, once.
      const req = sent.has('request_uri') ? pushed.get(sent.get('request_uri')!)! : sent
      pushed.delete(sent.get('request_uri') ?? '')
      const code = `code-${++serial}`
      codes.set(code, { challenge: req.get('code_challenge')!, nonce: req.get('nonce') ?? undefined, redirectUri: req.get('redirect_uri')!, jkt: req.get('dpop_jkt') ?? undefined })
      const callback = new URL(req.get('redirect_uri')!)
      callback.search = new URLSearchParams({ code, state: req.get('state')!, iss: ISSUER, ...extra }).toString()
      return callback.href
    },
    /** Makes every live access token invalid at the API (as if expired at the server). */
    expireAccessTokens: () => accessTokens.clear(),
    /** The verified DPoP proofs sent to a path (`/token`, `/par`, `/me`), in order. */
    proofs: (path: string) => proofs.filter((p) => p.url.pathname === path),
    /** The key thumbprint a token is bound to, if any. */
    boundTo: (token: string) => bound.get(token),
    /** The nonces the servers demand now (`dpopNonce`); assign to rotate one. */
    nonces: serverNonces,
  }

  /**
   * Verifies a DPoP proof as RFC 9449 §4.3 says: a JWS typ dpop+jwt, ES256, signed by the public key in
   * its header (no private part), htm and htu (no query or fragment) of this request, a recent iat, a jti
   * never seen, and ath = the access token's hash when one is presented. A string says what is wrong.
   */
  async function verifyProof(request: Request, url: URL, accessToken?: string): Promise<DPoPProof | string | undefined> {
    const jws = request.headers.get('dpop')
    if (jws === null) return undefined
    const [h = '', p = '', signature = ''] = jws.split('.')
    const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as DPoPProof['header']
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as DPoPProof['claims']
    if (header.typ !== 'dpop+jwt' || header.alg !== 'ES256') return 'typ or alg'
    const { kty, crv, x, y } = header.jwk ?? {}
    if (kty !== 'EC' || crv !== 'P-256' || 'd' in header.jwk) return 'jwk must be a public P-256 key'
    const key = await crypto.subtle.importKey('jwk', { kty, crv, x, y }, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify'])
    const valid = await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, Buffer.from(signature, 'base64url'), new TextEncoder().encode(`${h}.${p}`))
    if (!valid) return 'signature'
    if (claims.htm !== request.method || claims.htu !== `${url.origin}${url.pathname}`) return 'htm or htu'
    if (Math.abs(claims.iat - Date.now() / 1000) > 60) return 'iat'
    if (typeof claims.jti !== 'string' || jtis.has(claims.jti)) return 'jti reused'
    jtis.add(claims.jti)
    if (accessToken !== undefined && claims.ath !== (await sha256(accessToken))) return 'ath'
    const jkt = await sha256(JSON.stringify({ crv, kty, x, y }))
    const verified = { url, header, claims, jkt, jws }
    proofs.push(verified)
    return verified
  }
}

const sha256 = async (text: string) => Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))).toString('base64url')

/** A DPoP proof the fake provider verified, decoded. */
export interface DPoPProof {
  url: URL
  header: { typ: string; alg: string; jwk: Record<string, string> }
  claims: { jti: string; htm: string; htu: string; iat: number; ath?: string; nonce?: string }
  /** The JWK SHA-256 thumbprint of the proof's key (RFC 7638). */
  jkt: string
  jws: string
}

export type FakeProvider = ReturnType<typeof fakeProvider>

/** The key a provider rotates to (kid "k2"); see {@link keyRotation}. */
export const rotatedKey = (await crypto.subtle.generateKey(rsa, true, ['sign', 'verify'])) as CryptoKeyPair
const rotatedJwk = { ...(await crypto.subtle.exportKey('jwk', rotatedKey.publicKey)), kid: 'k2', alg: 'RS256', use: 'sig' }

/**
 * Signing-key rotation at the fake provider: pass `options` to {@link fakeProvider}. Before
 * `rotate()`, ID tokens are signed with k1 and the JWKS is [k1]; after it, they are signed with
 * k2 ({@link rotatedKey}) and the JWKS is [k2, k1], or still [k1] with `publish: false` (a `kid`
 * that stays unknown).
 */
export function keyRotation() {
  let rotated = false
  let published = false
  const tamper = {
    get header() {
      return rotated ? { alg: 'RS256', kid: 'k2' } : undefined
    },
    get key() {
      return rotated ? rotatedKey.privateKey : undefined
    },
  }
  return {
    options: { tamper, jwks: () => Response.json(published ? { keys: [rotatedJwk, ...jwks.keys] } : jwks) } satisfies FakeProviderOptions,
    rotate({ publish = true } = {}) {
      rotated = true
      published = publish
    },
  }
}

const open: Auth[] = []
let testId = 0
afterEach(() => {
  for (const auth of open.splice(0)) auth.close()
  testId += 1
})

/**
 * A client as an app creates it; several of them in one test stand for several tabs.
 * Each test gets its own `name`, so nothing leaks between tests; all are closed after it.
 */
export function openTab(op: FakeProvider, options: Partial<AuthOptions> = {}): Auth {
  const auth = createAuth({
    name: `test-${testId}`,
    issuer: ISSUER,
    clientId: 'spa',
    redirectUri: REDIRECT,
    scope: 'openid offline_access',
    apiOrigins: ['https://api.example', APP],
    fetch: op.fetch,
    ...options,
  })
  open.push(auth)
  return auth
}

/** Runs login() and returns the authorization URL it navigated to. */
export async function startLogin(auth: Auth, options?: Parameters<Auth['login']>[0]): Promise<string> {
  const assign = vi.spyOn(window.location, 'assign').mockImplementation(() => {})
  // login() never settles once it navigates (the page is leaving); it rejects on a failure before.
  let failed: unknown
  auth.login(options).catch((err: unknown) => (failed = err ?? new Error('login rejected')))
  let url = ''
  try {
    await vi.waitFor(() => {
      if (failed) return
      expect(assign).toHaveBeenCalled()
    })
    url = String(assign.mock.calls.at(-1)?.[0])
  } finally {
    assign.mockRestore()
  }
  if (failed) throw failed
  return url
}

/** Logs `auth` in through the fake provider. */
export async function logIn(auth: Auth, op: FakeProvider): Promise<void> {
  const authorizeUrl = await startLogin(auth)
  await auth.handleRedirect(op.authorize(authorizeUrl))
}

/** A minimal Web Locks manager shared by the fake tabs of one test (exclusive locks, FIFO, steal, signal). */
export function installFakeLocks() {
  const queues = new Map<string, { run: () => void; signal?: AbortSignal }[]>()
  const held = new Map<string, number>()
  let grants = 0
  const release = (name: string) => {
    held.delete(name)
    const next = queues.get(name)?.shift()
    next?.run()
  }
  const locks = {
    request(name: string, opts: LockOptions, callback: () => Promise<unknown>) {
      return new Promise((resolve, reject) => {
        const run = () => {
          const id = ++grants
          held.set(name, id)
          Promise.resolve()
            .then(callback)
            .then(resolve, reject)
            .finally(() => held.get(name) === id && release(name))
        }
        if (opts.steal || !held.has(name)) return run()
        const entry = { run, signal: opts.signal }
        const queue = queues.get(name) ?? []
        queues.set(name, queue)
        queue.push(entry)
        opts.signal?.addEventListener('abort', () => {
          const i = queue.indexOf(entry)
          if (i >= 0) queue.splice(i, 1)
          reject(opts.signal!.reason)
        })
      })
    },
    query: async () => ({ held: [...held.keys()].map((name) => ({ name })), pending: [] }),
  }
  Object.defineProperty(navigator, 'locks', { value: locks, configurable: true })
  return { locks, held }
}

export function removeLocks() {
  Object.defineProperty(navigator, 'locks', { value: undefined, configurable: true })
}

/**
 * Everything reachable from `root`, for checking that no secret is: every string met through own
 * properties (enumerable or not, symbol-keyed too, getters called), array items and Map/Set
 * entries, at any depth; and the kind (`[object Response]`, ...) of every object met, since a
 * Response, Request, Headers or URLSearchParams hides its contents in internal slots.
 */
export function reachable(root: unknown): { strings: string[]; kinds: string[] } {
  const strings: string[] = []
  const kinds = new Set<string>()
  const seen = new Set<object>()
  const queue: unknown[] = [root]
  for (let visited = 0; queue.length > 0 && visited < 100_000; visited++) {
    const value = queue.shift()
    if (typeof value === 'string') strings.push(value)
    if ((typeof value !== 'object' && typeof value !== 'function') || value === null || seen.has(value)) continue
    seen.add(value)
    kinds.add(Object.prototype.toString.call(value))
    if (value instanceof Map || value instanceof Set) for (const entry of value) queue.push(entry)
    for (const key of Reflect.ownKeys(value)) {
      if (typeof key === 'string') strings.push(key)
      const descriptor = Object.getOwnPropertyDescriptor(value, key)!
      try {
        queue.push('value' in descriptor ? descriptor.value : descriptor.get?.call(value))
      } catch {
        /* a throwing getter holds nothing we can reach */
      }
    }
  }
  return { strings, kinds: [...kinds] }
}

const hmacFor = (keyBytes: Uint8Array) => crypto.subtle.importKey('raw', keyBytes as BufferSource, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify'])

/** The forms of the provider's public key an alg-confusion attacker uses as an HMAC secret. */
export const publicKeyAsSecret = {
  /** The SPKI PEM text, as most JWT libraries that fell for HS256 confusion took it. */
  pem: new TextEncoder().encode(
    `-----BEGIN PUBLIC KEY-----\n${Buffer.from(await crypto.subtle.exportKey('spki', providerKey.publicKey)).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END PUBLIC KEY-----\n`,
  ),
  /** The DER bytes of the SPKI. */
  der: new Uint8Array(await crypto.subtle.exportKey('spki', providerKey.publicKey)),
  /** The JWK as the provider publishes it in its JWKS (JSON text). */
  jwk: new TextEncoder().encode(JSON.stringify(jwks.keys[0])),
}

/** Signs an ID token with HMAC-SHA256 keyed by `secret` (alg confusion done right: a valid HS256 JWS). */
export async function hmacIdToken(claims: Record<string, unknown>, secret: Uint8Array, header: Record<string, unknown> = { alg: 'HS256', kid: 'k1' }): Promise<string> {
  const input = `${b64(header)}.${b64(claims)}`
  const signature = await crypto.subtle.sign('HMAC', await hmacFor(secret), new TextEncoder().encode(input))
  return `${input}.${Buffer.from(signature).toString('base64url')}`
}

/** True when `jwt` is a valid HS256 JWS under `secret` (to show a test's forged token is what it claims). */
export async function verifiesAsHmac(jwt: string, secret: Uint8Array): Promise<boolean> {
  const [header, payload, signature] = jwt.split('.')
  return crypto.subtle.verify('HMAC', await hmacFor(secret), Buffer.from(signature, 'base64url'), new TextEncoder().encode(`${header}.${payload}`))
}

/** Records every write to Web Storage and to document.cookie for the rest of the test. */
export function watchStorage(): string[] {
  const writes: string[] = []
  const setItem = Storage.prototype.setItem
  vi.spyOn(Storage.prototype, 'setItem').mockImplementation(function (this: Storage, key: string, value: string) {
    writes.push(`${this === localStorage ? 'localStorage' : 'sessionStorage'} ${key}=${value}`)
    setItem.call(this, key, value)
  })
  let proto: object | null = document
  while (proto && !Object.getOwnPropertyDescriptor(proto, 'cookie')) proto = Object.getPrototypeOf(proto)
  const cookie = Object.getOwnPropertyDescriptor(proto!, 'cookie')!
  Object.defineProperty(document, 'cookie', { configurable: true, get: () => cookie.get!.call(document), set: (v: string) => writes.push(`cookie ${v}`) })
  return writes
}

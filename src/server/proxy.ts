import { AuthError } from '../errors.js'
import { createUpstream, decodeChunks, type UpstreamOptions } from './upstream.js'
import { logSafe } from './log-safe.js'

/**
 * Options of {@link createTokenProxy}.
 * @example
 * ```ts
 * import type { TokenProxyOptions } from 'oauth-tabs/server'
 *
 * const options: TokenProxyOptions = {
 *   issuer: 'https://accounts.google.com',
 *   clientId: process.env.GOOGLE_CLIENT_ID!,
 *   clientSecret: process.env.GOOGLE_CLIENT_SECRET!,
 *   allowedOrigins: ['https://app.example.com'],
 *   redirectUris: ['https://app.example.com/callback'],
 *   log: (line) => console.warn(line),
 * }
 * ```
 */
export interface TokenProxyOptions extends UpstreamOptions {
  /** Browser origins allowed to call the proxy (exact match, e.g. `https://app.example.com`). Required. */
  allowedOrigins: readonly string[]
  /** `redirect_uri` values a code exchange may use (exact match). Required. */
  redirectUris: readonly string[]
  /** Grants the browser may ask for. Default `['authorization_code', 'refresh_token']`. */
  grantTypes?: readonly ('authorization_code' | 'refresh_token')[]
  /** Largest request body accepted, in bytes. Default 8192. */
  maxBodyBytes?: number
  /** Receives one line per refused or failed request, with secrets and tokens left out. Default: none. */
  log?: (line: string) => void
}

/**
 * A web-standard request handler: runs on Node 20, Deno, Bun and Workers alike.
 * @example
 * ```ts
 * import type { FetchHandler } from 'oauth-tabs/server'
 *
 * const handler: FetchHandler = proxy
 * const response = await handler(new Request('https://app.example.com/api/oauth/token', { method: 'OPTIONS', headers: { origin: 'https://app.example.com' } }))
 * ```
 */
export type FetchHandler = (request: Request) => Promise<Response>

/** Parameters forwarded per grant; everything else the browser sends is dropped (RFC 9700 §2.3). */
const FORWARDED: Record<string, readonly string[]> = {
  authorization_code: ['grant_type', 'code', 'redirect_uri', 'code_verifier'],
  refresh_token: ['grant_type', 'refresh_token', 'scope'],
  revoke: ['token', 'token_type_hint'],
}

const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/
/** A DPoP proof (RFC 9449 §4.2) is a compact JWS: three base64url parts. */
const DPOP_PROOF = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/
/** Longest provider `error` / `error_description` / `error_uri` passed back to the browser. */
const MAX_ERROR_FIELD = 512
/** Upstream response headers the browser library reads: forwarded, and exposed through CORS. */
const FORWARDED_HEADERS = ['retry-after', 'www-authenticate', 'dpop-nonce'] as const
const MAX_FORWARDED_HEADER = 2048

/**
 * What of a provider's error answer reaches the browser: `error`, `error_description` and
 * `error_uri`, strings only, each at most 512 characters. Nothing else of an upstream answer
 * (a gateway that echoes its request would hand over the client secret).
 */
function errorFields(json: Record<string, unknown>, redact: (text: string) => string): Record<string, string> | undefined {
  if (typeof json.error !== 'string' || !json.error) return undefined
  const fields: Record<string, string> = {}
  for (const name of ['error', 'error_description', 'error_uri']) {
    const value = json[name]
    // A provider (or gateway) that quotes its request in these fields would hand over the secret.
    if (typeof value === 'string') fields[name] = redact(value).slice(0, MAX_ERROR_FIELD)
  }
  return fields
}

/** Members of a successful token response passed to the browser (RFC 6749 §5.1, OIDC Core §3.1.3.3, RFC 8693, RFC 9396). */
const TOKEN_MEMBERS = ['access_token', 'token_type', 'expires_in', 'refresh_token', 'scope', 'id_token', 'refresh_token_expires_in', 'issued_token_type', 'authorization_details']

/** A token response with only its known members, string fields redacted of the secret: nothing else of an upstream answer. */
function tokenMembers(json: Record<string, unknown>, redact: (text: string) => string): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const name of TOKEN_MEMBERS) {
    const value = json[name]
    if (value !== undefined) out[name] = typeof value === 'string' && name !== 'access_token' && name !== 'refresh_token' && name !== 'id_token' ? redact(value) : value
  }
  return out
}

/**
 * Creates the backend endpoint for providers that require a client secret (GitHub OAuth apps,
 * Google "web application" clients): the browser library (`tokenProxy` option) sends its code
 * exchange, refresh and revocation here, and the proxy forwards them to the configured provider
 * with the secret added. PKCE stays end to end: the verifier comes from the browser, and a code
 * exchange without one is refused (RFC 10017 treats a secret-adding proxy's client as public).
 *
 * Routes: `POST …/token` and `POST …/revoke` (any prefix), `OPTIONS` for CORS preflight.
 * It is no open proxy: the upstream comes from configuration only; a missing or foreign
 * `Origin` is refused (403); grant types, `client_id` and `redirect_uri` are allowlisted (400);
 * bodies over `maxBodyBytes` are refused (413); the whole upstream exchange (headers and body)
 * times out (504), its answer is capped (`maxAnswerBytes`, 502) and redirects are never followed
 * (502). A token response (200 with an `access_token`) is passed on as the provider sent it;
 * of any other answer only `error`, `error_description` and `error_uri` (strings, at most 512
 * characters each) reach the browser, and what is not an OAuth answer becomes a JSON
 * `server_error` (502). Upstream `Retry-After`, `WWW-Authenticate` and `DPoP-Nonce` are forwarded
 * and exposed through CORS; a browser's `DPoP` header is forwarded unchanged. Every response
 * carries `Cache-Control: no-store`. The secret never appears in a response, a log line or an
 * error, and request-derived text in log lines is escaped (no CR/LF or control characters).
 *
 * The handler sees no client address, so it cannot rate-limit: put a limit per client IP in
 * front of it (the reverse proxy's, e.g. nginx `limit_req`, or {@link toNodeHandler}'s `limit`).
 *
 * @throws {@link AuthError} `config` for missing or invalid options.
 * @example
 * ```ts
 * import { createTokenProxy, toNodeHandler } from 'oauth-tabs/server'
 *
 * const proxy = createTokenProxy({
 *   issuer: 'https://accounts.google.com',
 *   clientId: process.env.GOOGLE_CLIENT_ID!,
 *   clientSecret: process.env.GOOGLE_CLIENT_SECRET!,
 *   allowedOrigins: ['https://app.example.com'],
 *   redirectUris: ['https://app.example.com/callback'],
 * })
 * app.use('/api/oauth', toNodeHandler(proxy)) // Express, connect, vite
 * // or, on a fetch runtime: export default { fetch: proxy }
 * ```
 */
export function createTokenProxy(options: TokenProxyOptions): FetchHandler {
  const upstream = createUpstream(options)
  const origins = new Set(options.allowedOrigins ?? [])
  const redirectUris = new Set(options.redirectUris ?? [])
  const grants = new Set(options.grantTypes ?? ['authorization_code', 'refresh_token'])
  const maxBody = options.maxBodyBytes ?? 8192
  const log = options.log ?? (() => {})
  if (origins.size === 0) throw new AuthError('config', 'options.allowedOrigins must list the browser origins allowed to call the proxy')
  for (const origin of origins) {
    if (!URL.canParse(origin) || new URL(origin).origin !== origin) throw new AuthError('config', `options.allowedOrigins entries must be origins like https://app.example.com; got "${logSafe(origin)}"`)
  }
  if (redirectUris.size === 0 && grants.has('authorization_code')) throw new AuthError('config', 'options.redirectUris must list the allowed redirect URIs')
  for (const uri of redirectUris) {
    if (!URL.canParse(uri)) throw new AuthError('config', `options.redirectUris entries must be absolute URLs; got "${logSafe(uri)}"`)
  }
  for (const grant of grants) {
    if (!(grant in FORWARDED) || grant === 'revoke') throw new AuthError('config', `options.grantTypes: "${grant}" cannot be proxied for browsers`)
  }

  function reply(status: number, body: Record<string, unknown> | null, origin: string | null, extra: Record<string, string> = {}): Response {
    const headers = new Headers({ 'cache-control': 'no-store', pragma: 'no-cache', vary: 'Origin', ...extra })
    if (origin && origins.has(origin)) {
      headers.set('access-control-allow-origin', origin)
      headers.set('access-control-expose-headers', FORWARDED_HEADERS.join(', '))
    }
    if (body) headers.set('content-type', 'application/json')
    return new Response(body ? JSON.stringify(body) : null, { status, headers })
  }
  /** `why` is for the log only; every request-derived part of it must go through logSafe. */
  const refuse = (status: number, error: string, description: string, origin: string | null, why: string, extra: Record<string, string> = {}) => {
    log(`oauth-tabs proxy: ${status} ${error}: ${why}`)
    return reply(status, { error, error_description: description }, origin, extra)
  }
  /** The upstream headers the browser library reads (Retry-After, WWW-Authenticate, DPoP-Nonce). */
  const forwardedHeaders = (headers: Headers) => {
    const picked: Record<string, string> = {}
    for (const name of FORWARDED_HEADERS) {
      const value = headers.get(name)
      if (value && value.length <= MAX_FORWARDED_HEADER) picked[name] = value
    }
    return picked
  }

  /** Reads at most maxBody bytes; undefined when the body is larger. */
  async function readBody(request: Request): Promise<string | undefined> {
    const declared = Number(request.headers.get('content-length') ?? 0)
    if (declared > maxBody) return undefined
    if (!request.body) return ''
    const reader = request.body.getReader()
    const chunks: Uint8Array[] = []
    let size = 0
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      size += value.byteLength
      if (size > maxBody) {
        await reader.cancel()
        return undefined
      }
      chunks.push(value)
    }
    return decodeChunks(chunks, size)
  }

  return async function handle(request: Request): Promise<Response> {
    const origin = request.headers.get('origin')
    const path = new URL(request.url).pathname
    const route = path.endsWith('/token') ? 'token' : path.endsWith('/revoke') ? 'revoke' : undefined
    if (!route) return refuse(404, 'invalid_request', 'Unknown endpoint', origin && origins.has(origin) ? origin : null, `path ${logSafe(path)}`)
    // A browser always sends Origin on a cross-origin or POST fetch; no Origin means no browser we serve.
    if (!origin || !origins.has(origin)) return refuse(403, 'invalid_request', 'Origin not allowed', null, `origin ${origin === null ? '(none)' : logSafe(origin)}`)
    if (request.method === 'OPTIONS') {
      return reply(204, null, origin, {
        'access-control-allow-methods': 'POST',
        'access-control-allow-headers': 'content-type, accept, dpop',
        'access-control-max-age': '600',
      })
    }
    if (request.method !== 'POST') return refuse(405, 'invalid_request', 'Use POST', origin, `method ${logSafe(request.method, 20)}`, { allow: 'POST, OPTIONS' })
    if (!/^application\/x-www-form-urlencoded\b/i.test(request.headers.get('content-type') ?? '')) {
      return refuse(415, 'invalid_request', 'Send application/x-www-form-urlencoded', origin, 'content-type')
    }
    const dpop = request.headers.get('dpop')
    if (dpop !== null && (dpop.length > 8192 || !DPOP_PROOF.test(dpop))) return refuse(400, 'invalid_dpop_proof', 'Malformed DPoP header', origin, 'dpop header')
    let text: string | undefined
    try {
      text = await readBody(request)
    } catch (err) {
      return refuse(400, 'invalid_request', 'The request body could not be read', origin, `body ${logSafe((err as Error)?.name)}`)
    }
    if (text === undefined) return refuse(413, 'invalid_request', `Body over ${maxBody} bytes`, origin, 'body size')
    const params = new URLSearchParams(text)
    for (const key of new Set(params.keys())) {
      if (params.getAll(key).length > 1) return refuse(400, 'invalid_request', `Duplicate parameter ${key.slice(0, 40)}`, origin, `duplicate ${logSafe(key, 40)}`)
    }
    const clientId = params.get('client_id')
    if (clientId !== null && clientId !== upstream.clientId) return refuse(400, 'unauthorized_client', 'Unknown client_id', origin, 'client_id mismatch')

    let kind = 'revoke'
    if (route === 'token') {
      kind = params.get('grant_type') ?? ''
      if (!grants.has(kind as 'authorization_code')) return refuse(400, 'unauthorized_client', 'Grant type not allowed', origin, `grant_type ${logSafe(kind, 40)}`)
      if (kind === 'authorization_code') {
        if (!params.get('code')) return refuse(400, 'invalid_request', 'Missing code', origin, 'no code')
        if (!redirectUris.has(params.get('redirect_uri') ?? '')) return refuse(400, 'invalid_request', 'redirect_uri not allowed', origin, 'redirect_uri')
        if (!VERIFIER.test(params.get('code_verifier') ?? '')) return refuse(400, 'invalid_request', 'PKCE code_verifier required', origin, 'no PKCE')
      } else if (!params.get('refresh_token')) {
        return refuse(400, 'invalid_request', 'Missing refresh_token', origin, 'no refresh_token')
      }
    } else if (!params.get('token')) {
      return refuse(400, 'invalid_request', 'Missing token', origin, 'no token')
    }
    const forward = new URLSearchParams()
    for (const key of FORWARDED[kind]) {
      const value = params.get(key)
      if (value !== null) forward.set(key, value)
    }

    let endpoint: string | undefined
    try {
      const endpoints = await upstream.endpoints()
      endpoint = route === 'token' ? endpoints.token : endpoints.revocation
    } catch (err) {
      return refuse(502, 'server_error', 'Provider discovery failed', origin, logSafe((err as Error)?.message, 200))
    }
    if (!endpoint) return refuse(404, 'unsupported_token_type', 'The provider has no revocation endpoint', origin, 'no revocation endpoint')
    try {
      const answer = await upstream.post(endpoint, forward, dpop === null ? {} : { dpop })
      const headers = forwardedHeaders(answer.headers)
      if (answer.status >= 300 && answer.status < 400) return refuse(502, 'server_error', 'Provider redirected', origin, `upstream ${answer.status} redirect`)
      if (route === 'revoke' && answer.status === 200) return reply(200, null, origin, headers)
      // Success: the token response as the provider sent it (the browser library validates it).
      const redact = (text: string) => upstream.redact(text, [...forward.values()].filter((v) => v !== kind))
      if (route === 'token' && answer.status === 200 && typeof answer.json?.access_token === 'string') return reply(200, tokenMembers(answer.json, redact), origin, headers)
      // Anything else: the provider's error fields only, never the rest of its answer.
      const fields = answer.json && answer.status >= 400 ? errorFields(answer.json, redact) : undefined
      if (!fields) {
        const what = answer.json ? (answer.status >= 400 ? 'without an OAuth error' : 'without a token') : 'without JSON'
        return refuse(502, 'server_error', `Provider answered HTTP ${answer.status} ${what}`, origin, `upstream ${answer.status} ${what}`, headers)
      }
      log(`oauth-tabs proxy: upstream ${answer.status} ${logSafe(fields.error, 40)} for ${logSafe(kind, 40)}`)
      return reply(answer.status, fields, origin, headers)
    } catch (err) {
      const name = (err as Error)?.name
      const timedOut = name === 'TimeoutError'
      const tooLarge = err instanceof AuthError
      return refuse(
        timedOut ? 504 : 502,
        timedOut ? 'temporarily_unavailable' : 'server_error',
        timedOut ? 'Provider timed out' : tooLarge ? 'Provider answer too large' : 'Provider unreachable',
        origin,
        tooLarge ? (err as AuthError).message : `upstream ${logSafe(name, 40)}`,
      )
    }
  }
}

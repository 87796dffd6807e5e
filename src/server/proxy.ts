import { AuthError } from '../errors.js'
import { createUpstream, type UpstreamOptions } from './upstream.js'

/** Options of {@link createTokenProxy}. */
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

/** A web-standard request handler: runs on Node 20, Deno, Bun and Workers alike. */
export type FetchHandler = (request: Request) => Promise<Response>

/** Parameters forwarded per grant; everything else the browser sends is dropped (RFC 9700 §2.3). */
const FORWARDED: Record<string, readonly string[]> = {
  authorization_code: ['grant_type', 'code', 'redirect_uri', 'code_verifier'],
  refresh_token: ['grant_type', 'refresh_token', 'scope'],
  revoke: ['token', 'token_type_hint'],
}

const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/

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
 * bodies over `maxBodyBytes` are refused (413); the upstream call times out (504) and never
 * follows redirects (502); the answer is the provider's JSON with `Cache-Control: no-store`,
 * and anything that is not JSON becomes a JSON `server_error` (502). The secret never appears
 * in a response, a log line or an error.
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
    if (new URL(origin).origin !== origin) throw new AuthError('config', `options.allowedOrigins entries must be origins; got "${origin}"`)
  }
  if (redirectUris.size === 0 && grants.has('authorization_code')) throw new AuthError('config', 'options.redirectUris must list the allowed redirect URIs')
  for (const grant of grants) {
    if (!(grant in FORWARDED) || grant === 'revoke') throw new AuthError('config', `options.grantTypes: "${grant}" cannot be proxied for browsers`)
  }

  function reply(status: number, body: Record<string, unknown> | null, origin: string | null, extra: Record<string, string> = {}): Response {
    const headers = new Headers({ 'cache-control': 'no-store', pragma: 'no-cache', vary: 'Origin', ...extra })
    if (origin && origins.has(origin)) {
      headers.set('access-control-allow-origin', origin)
    }
    if (body) headers.set('content-type', 'application/json')
    return new Response(body ? JSON.stringify(body) : null, { status, headers })
  }
  const refuse = (status: number, error: string, description: string, origin: string | null, why: string) => {
    log(`oauth-tabs proxy: ${status} ${error}: ${why}`)
    return reply(status, { error, error_description: description }, origin)
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
    const bytes = new Uint8Array(size)
    let offset = 0
    for (const chunk of chunks) {
      bytes.set(chunk, offset)
      offset += chunk.byteLength
    }
    return new TextDecoder().decode(bytes)
  }

  return async function handle(request: Request): Promise<Response> {
    const origin = request.headers.get('origin')
    const path = new URL(request.url).pathname
    const route = path.endsWith('/token') ? 'token' : path.endsWith('/revoke') ? 'revoke' : undefined
    if (!route) return refuse(404, 'invalid_request', 'Unknown endpoint', origin, `path ${path}`)
    // A browser always sends Origin on a cross-origin or POST fetch; no Origin means no browser we serve.
    if (!origin || !origins.has(origin)) return refuse(403, 'invalid_request', 'Origin not allowed', null, `origin ${origin ?? '(none)'}`)
    if (request.method === 'OPTIONS') {
      return reply(204, null, origin, {
        'access-control-allow-methods': 'POST',
        'access-control-allow-headers': 'content-type, accept, dpop',
        'access-control-max-age': '600',
      })
    }
    if (request.method !== 'POST') return refuse(405, 'invalid_request', 'Use POST', origin, `method ${request.method}`)
    if (!/^application\/x-www-form-urlencoded\b/i.test(request.headers.get('content-type') ?? '')) {
      return refuse(415, 'invalid_request', 'Send application/x-www-form-urlencoded', origin, 'content-type')
    }
    const text = await readBody(request)
    if (text === undefined) return refuse(413, 'invalid_request', `Body over ${maxBody} bytes`, origin, 'body size')
    const params = new URLSearchParams(text)
    for (const key of new Set(params.keys())) {
      if (params.getAll(key).length > 1) return refuse(400, 'invalid_request', `Duplicate parameter ${key}`, origin, `duplicate ${key}`)
    }
    const clientId = params.get('client_id')
    if (clientId !== null && clientId !== upstream.clientId) return refuse(400, 'unauthorized_client', 'Unknown client_id', origin, 'client_id mismatch')

    let kind = 'revoke'
    if (route === 'token') {
      kind = params.get('grant_type') ?? ''
      if (!grants.has(kind as 'authorization_code')) return refuse(400, 'unauthorized_client', 'Grant type not allowed', origin, `grant_type ${kind.slice(0, 40)}`)
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
      return refuse(502, 'server_error', 'Provider discovery failed', origin, String((err as Error).message))
    }
    if (!endpoint) return refuse(404, 'unsupported_token_type', 'The provider has no revocation endpoint', origin, 'no revocation endpoint')
    try {
      const answer = await upstream.post(endpoint, forward)
      if (answer.status >= 300 && answer.status < 400) return refuse(502, 'server_error', 'Provider redirected', origin, `upstream ${answer.status} redirect`)
      if (route === 'revoke' && answer.status === 200) return reply(200, null, origin)
      if (!answer.json) {
        return refuse(502, 'server_error', `Provider answered HTTP ${answer.status} without JSON`, origin, `upstream ${answer.status} not JSON`)
      }
      if (answer.status >= 400) log(`oauth-tabs proxy: upstream ${answer.status} ${String(answer.json.error)} for ${kind}`)
      const retryAfter = answer.headers.get('retry-after')
      return reply(answer.status, answer.json, origin, retryAfter ? { 'retry-after': retryAfter } : {})
    } catch (err) {
      const timedOut = (err as Error)?.name === 'TimeoutError'
      return refuse(timedOut ? 504 : 502, timedOut ? 'temporarily_unavailable' : 'server_error', timedOut ? 'Provider timed out' : 'Provider unreachable', origin, `upstream ${(err as Error)?.name}`)
    }
  }
}

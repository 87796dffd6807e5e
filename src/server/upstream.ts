import * as oauth from 'oauth4webapi'
import { AuthError } from '../errors.js'
import { toAuthError } from '../provider-errors.js'

/**
 * How the server authenticates to the provider's token endpoint (RFC 6749 §2.3.1).
 * @example
 * ```ts
 * import type { ClientAuthentication } from 'oauth-tabs/server'
 *
 * const method: ClientAuthentication = 'client_secret_post' // Baidu, GitHub; most others take Basic
 * ```
 */
export type ClientAuthentication = 'client_secret_basic' | 'client_secret_post'

/**
 * Where and as whom the server talks to the provider. Shared by the proxy and client_credentials.
 * @example
 * ```ts
 * import type { UpstreamOptions } from 'oauth-tabs/server'
 *
 * const upstream: UpstreamOptions = { tokenEndpoint: 'https://github.com/login/oauth/access_token', clientId: 'Iv1.abc', clientAuthentication: 'client_secret_post' }
 * ```
 */
export interface UpstreamOptions {
  /** Issuer to discover the endpoints from (OpenID Connect, then RFC 8414). Or give the endpoints. */
  issuer?: string
  /** The provider's token endpoint; overrides discovery. */
  tokenEndpoint?: string
  /** The provider's revocation endpoint (RFC 7009); overrides discovery. */
  revocationEndpoint?: string
  /** The confidential client's ID. */
  clientId: string
  /** The client secret. Default: the `OAUTH_CLIENT_SECRET` environment variable. Never taken from a request. */
  clientSecret?: string
  /** Default `client_secret_basic` (the secret stays out of the body). */
  clientAuthentication?: ClientAuthentication
  /** Milliseconds for a whole upstream exchange (headers and body) before it is abandoned. Default 10000. */
  timeout?: number
  /** Largest upstream answer read, in bytes; a larger one is refused (`server_error`). Default 65536. */
  maxAnswerBytes?: number
  /** The fetch used upstream. Default: the global fetch. */
  fetch?: typeof fetch
}

/** A provider answer, read safely: JSON object or nothing. */
export interface UpstreamAnswer {
  status: number
  headers: Headers
  json?: Record<string, unknown>
}

const LOOPBACK = /^(localhost|127\.0\.0\.1|\[::1\])$/

function checkUrl(option: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  let url: URL | undefined
  try {
    url = new URL(value)
  } catch {
    /* reported below */
  }
  if (!url || !(url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.test(url.hostname)))) {
    throw new AuthError('config', `options.${option} must be an https URL (http only on loopback); got "${value}"`)
  }
  return url.href
}

/**
 * Reads a response body as text, at most `cap` bytes, before `signal` aborts. A stalled body
 * rejects with the signal's reason (a `TimeoutError`), never with a parse error.
 */
async function readCapped(response: Response, cap: number, signal: AbortSignal): Promise<string> {
  const tooLarge = () => new AuthError('server_error', `Provider answer over ${cap} bytes (options.maxAnswerBytes)`)
  if (Number(response.headers.get('content-length')) > cap) {
    await response.body?.cancel().catch(() => {})
    throw tooLarge()
  }
  if (!response.body) return ''
  const reader = response.body.getReader()
  const stop = () => void reader.cancel(signal.reason).catch(() => {})
  signal.addEventListener('abort', stop, { once: true })
  const chunks: Uint8Array[] = []
  let size = 0
  try {
    signal.throwIfAborted()
    for (;;) {
      const { done, value } = await reader.read()
      signal.throwIfAborted()
      if (done) break
      size += value.byteLength
      if (size > cap) {
        await reader.cancel().catch(() => {})
        throw tooLarge()
      }
      chunks.push(value)
    }
  } catch (err) {
    if (signal.aborted) throw signal.reason
    throw err
  } finally {
    signal.removeEventListener('abort', stop)
  }
  return decodeChunks(chunks, size)
}

/** The UTF-8 text of `chunks` (`size` bytes in all): a body read piece by piece under a cap. */
export function decodeChunks(chunks: readonly Uint8Array[], size: number): string {
  const bytes = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.byteLength
  }
  return new TextDecoder().decode(bytes)
}

/** The upstream: fixed by configuration (never by a request), with the secret held here. */
export function createUpstream(options: UpstreamOptions) {
  const secret = options.clientSecret ?? globalThis.process?.env?.OAUTH_CLIENT_SECRET
  if (!options.clientId) throw new AuthError('config', 'options.clientId is required')
  if (!secret) throw new AuthError('config', 'options.clientSecret (or OAUTH_CLIENT_SECRET) is required')
  const method = options.clientAuthentication ?? 'client_secret_basic'
  if (method !== 'client_secret_basic' && method !== 'client_secret_post') {
    throw new AuthError('config', 'options.clientAuthentication must be "client_secret_basic" or "client_secret_post"')
  }
  if (!options.issuer && !options.tokenEndpoint) throw new AuthError('config', 'options.issuer or options.tokenEndpoint is required')
  const issuer = checkUrl('issuer', options.issuer)
  const fixed = { token: checkUrl('tokenEndpoint', options.tokenEndpoint), revocation: checkUrl('revocationEndpoint', options.revocationEndpoint) }
  const fetchFn = options.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init))
  const timeout = options.timeout ?? 10_000
  const maxAnswer = options.maxAnswerBytes ?? 65_536
  if (!(timeout > 0)) throw new AuthError('config', 'options.timeout must be a positive number of milliseconds')
  if (!(maxAnswer > 0)) throw new AuthError('config', 'options.maxAnswerBytes must be a positive number of bytes')
  let endpoints: Promise<{ token: string; revocation?: string }> | undefined

  async function discover() {
    if (fixed.token && (fixed.revocation || !issuer)) return { token: fixed.token, revocation: fixed.revocation }
    const url = new URL(issuer!)
    const opts = { [oauth.customFetch]: fetchFn, [oauth.allowInsecureRequests]: url.protocol === 'http:', signal: AbortSignal.timeout(timeout) }
    try {
      let response = await oauth.discoveryRequest(url, { ...opts, algorithm: 'oidc' })
      if (response.status === 404) response = await oauth.discoveryRequest(url, { ...opts, algorithm: 'oauth2' })
      const as = await oauth.processDiscoveryResponse(url, response)
      if (!as.token_endpoint) throw new AuthError('config', 'The provider has no token_endpoint')
      // Discovered endpoints obey the same rule as configured ones: the secret never goes over plain
      // http to a non-loopback host (a provider behind a TLS terminator that publishes http URLs).
      return {
        token: fixed.token ?? checkUrl('token_endpoint (discovered)', as.token_endpoint)!,
        revocation: fixed.revocation ?? checkUrl('revocation_endpoint (discovered)', as.revocation_endpoint),
      }
    } catch (err) {
      throw toAuthError(err, 'Discovery')
    }
  }

  // RFC 6749 §2.3.1: form-urlencode both parts before base64.
  const encode = (s: string) => encodeURIComponent(s).replace(/%20/g, '+')
  const basic = btoa(`${encode(options.clientId)}:${encode(secret)}`)
  /** Every form in which a provider that echoes its request could hand the secret back. */
  const secretForms = [...new Set([secret, encode(secret), encodeURIComponent(secret), basic])]

  /** Client authentication for a form body, per the configured method. */
  function authenticate(body: URLSearchParams, headers: Headers) {
    if (method === 'client_secret_post') {
      body.set('client_id', options.clientId)
      body.set('client_secret', secret!)
    } else {
      headers.set('authorization', `Basic ${basic}`)
    }
  }

  return {
    clientId: options.clientId,
    /**
     * `text` with the secret (in every form it was sent) and each of `sent` (the request's code,
     * verifier or tokens, 8 characters or more) replaced by `[redacted]`: for provider-sent text
     * that goes on to a browser, an error or Redis.
     */
    redact(text: string, sent: readonly (string | null | undefined)[] = []): string {
      let out = text
      const values = [...secretForms, ...sent.filter((v): v is string => !!v && v.length >= 8)]
      for (const value of values.sort((a, b) => b.length - a.length)) out = out.split(value).join('[redacted]')
      return out
    },
    /** The token and revocation endpoints (discovered once, then cached). */
    endpoints: () => (endpoints ??= discover().catch((err: unknown) => {
      endpoints = undefined
      throw err
    })),
    /**
     * POSTs a form to `url` with the client's credentials (and `extraHeaders`, such as a DPoP
     * proof). Never follows redirects (a 307 would replay the secret elsewhere: RFC 9700 §4.12);
     * one deadline covers headers and body (a `TimeoutError` when it passes); reads JSON only,
     * at most `maxAnswerBytes` (an {@link AuthError} `server_error` beyond).
     */
    async post(url: string, params: URLSearchParams, extraHeaders: Record<string, string> = {}): Promise<UpstreamAnswer> {
      const body = new URLSearchParams(params)
      const headers = new Headers({ ...extraHeaders, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' })
      authenticate(body, headers)
      const signal = AbortSignal.timeout(timeout)
      const response = await fetchFn(url, { method: 'POST', body, headers, redirect: 'manual', signal, cache: 'no-store' })
      let json: Record<string, unknown> | undefined
      if (/^application\/(.+\+)?json/i.test(response.headers.get('content-type') ?? '')) {
        const text = await readCapped(response, maxAnswer, signal)
        try {
          const parsed: unknown = JSON.parse(text)
          if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) json = parsed as Record<string, unknown>
        } catch {
          /* not JSON after all */
        }
      } else {
        await response.body?.cancel().catch(() => {})
      }
      return { status: response.status, headers: response.headers, json }
    },
  }
}

export type Upstream = ReturnType<typeof createUpstream>

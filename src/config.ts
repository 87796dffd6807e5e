import type { AuthorizationServer } from 'oauth4webapi'
import { AuthError } from './errors.js'

/**
 * Options of {@link createAuth}. Only `issuer`, `clientId` and `redirectUri` are required.
 * There is deliberately no client secret: a secret in browser code is no secret
 * (RFC 10017 §6.3.3.1); providers that require one go through `tokenProxy`.
 */
export interface AuthOptions {
  /** The provider's issuer identifier, e.g. `https://id.example.com`. https, or http on a loopback host. */
  issuer: string
  /** The client ID registered at the provider for this app (a public client). */
  clientId: string
  /** The registered redirect URI, absolute, matched exactly by the provider (scheme, host, port, path, trailing slash). */
  redirectUri: string
  /** Space-separated scopes. Default `openid`. Add `offline_access` for refresh tokens from OpenID providers. */
  scope?: string
  /** Origins (`https://api.example.com`, no path) to which {@link Auth.fetch} may send the token. Default: this page's origin. */
  apiOrigins?: readonly string[]
  /** Where the provider sends the browser after RP-initiated logout; must be registered. Without it, logout stays local. */
  postLogoutRedirectUri?: string
  /** URL of an `oauth-tabs/server` endpoint that adds the client secret; token and revocation requests go there. */
  tokenProxy?: string
  /** Seconds before expiry at which a token counts as due for refresh. Default 60 (at most half the token's lifetime). */
  refreshSkew?: number
  /** Namespace for storage, locks and channels: two clients on one origin with different names share nothing. Default `default`. */
  name?: string
  /** `indexeddb` (default; shared by tabs) or `memory` (this tab only, lost on reload). */
  storage?: 'indexeddb' | 'memory'
  /** Extra parameters for the authorization request, e.g. `{ audience: '...' }`. */
  authorizationParams?: Readonly<Record<string, string>>
  /** Seconds to wait for another tab's refresh before giving up. Default 10. */
  lockTimeout?: number
  /** Seconds for which discovered provider metadata is reused from storage. Default 86400. */
  discoveryTtl?: number
  /** Provider metadata to use instead of discovery (for providers without a discovery document). */
  metadata?: Readonly<Partial<AuthorizationServer>>
  /** The `fetch` used for provider requests. Default: the global `fetch`. */
  fetch?: typeof fetch
}

/** Options after validation and defaults. Internal. */
export interface Config {
  issuer: URL
  clientId: string
  redirectUri: string
  scope: string
  openid: boolean
  apiOrigins: readonly string[]
  postLogoutRedirectUri?: string
  tokenProxy?: string
  refreshSkew: number
  name: string
  storage: 'indexeddb' | 'memory'
  authorizationParams: Readonly<Record<string, string>>
  lockTimeout: number
  discoveryTtl: number
  metadata?: Readonly<Partial<AuthorizationServer>>
  fetch: typeof fetch
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]'])

function fail(option: string, problem: string): never {
  throw new AuthError('config', `options.${option} ${problem}`)
}

function isString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0
}

/** An absolute http(s) URL; http only on loopback hosts (RFC 8252 §8.3, RFC 9700 §2.6). */
function secureUrl(option: string, value: unknown, base?: string): URL {
  if (!isString(value)) fail(option, 'must be a non-empty string')
  let url: URL
  try {
    url = new URL(value, base)
  } catch {
    fail(option, `must be an absolute URL (got "${value}")`)
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
    fail(option, `must use https (http only on localhost, 127.0.0.1 or [::1]); got "${value}"`)
  }
  if (url.hash || url.username || url.password) fail(option, 'must not have a fragment or credentials')
  return url
}

function seconds(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback * 1000
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) fail(option, 'must be a number of seconds, 0 or more')
  return value * 1000
}

/**
 * Validates options and fills in defaults. Every problem is an `AuthError` with
 * code `config` whose message names the option.
 */
export function resolveConfig(options: AuthOptions): Config {
  if (!options || typeof options !== 'object') fail('', 'createAuth needs an options object')
  for (const secret of ['clientSecret', 'client_secret']) {
    if (secret in options) fail(secret, 'is not accepted in the browser: a secret shipped to browsers is public. Use a token proxy (oauth-tabs/server)')
  }
  const here = globalThis.location?.origin
  const issuer = secureUrl('issuer', options.issuer)
  if (issuer.search) fail('issuer', 'must not have a query')
  if (!isString(options.clientId)) fail('clientId', 'must be a non-empty string')
  const redirectUri = secureUrl('redirectUri', options.redirectUri).href
  const scope = options.scope ?? 'openid'
  if (typeof scope !== 'string' || !/^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/.test(scope)) {
    fail('scope', 'must be space-separated scope tokens (RFC 6749 §3.3)')
  }
  const apiOrigins = options.apiOrigins ?? (here ? [here] : [])
  if (!Array.isArray(apiOrigins)) fail('apiOrigins', 'must be an array of origins')
  for (const origin of apiOrigins) {
    let parsed: URL | undefined
    try {
      parsed = new URL(origin)
    } catch {
      /* reported below */
    }
    if (!parsed || parsed.origin !== origin || origin.includes('*') || !/^https?:$/.test(parsed.protocol)) {
      fail('apiOrigins', `entries must be origins like "https://api.example.com" (scheme, host, port; no path, no trailing slash, no wildcard); got "${origin}"`)
    }
  }
  const name = options.name ?? 'default'
  if (typeof name !== 'string' || !/^[\w.-]{1,64}$/.test(name)) fail('name', 'must be 1-64 letters, digits, ".", "_" or "-"')
  const storage = options.storage ?? 'indexeddb'
  if (storage !== 'indexeddb' && storage !== 'memory') fail('storage', 'must be "indexeddb" or "memory"')
  const params = options.authorizationParams ?? {}
  if (typeof params !== 'object' || Object.values(params).some((v) => typeof v !== 'string')) {
    fail('authorizationParams', 'must be an object of string values')
  }
  const fetchFn = options.fetch ?? globalThis.fetch?.bind(globalThis)
  if (typeof fetchFn !== 'function') fail('fetch', 'must be a function (no global fetch here)')
  const lockTimeout = seconds('lockTimeout', options.lockTimeout, 10)
  if (lockTimeout <= 0) fail('lockTimeout', 'must be more than 0 seconds')
  return {
    issuer,
    clientId: options.clientId,
    redirectUri,
    scope,
    openid: scope.split(' ').includes('openid'),
    apiOrigins,
    postLogoutRedirectUri: options.postLogoutRedirectUri === undefined ? undefined : secureUrl('postLogoutRedirectUri', options.postLogoutRedirectUri).href,
    tokenProxy: options.tokenProxy === undefined ? undefined : secureUrl('tokenProxy', options.tokenProxy, here).href,
    refreshSkew: seconds('refreshSkew', options.refreshSkew, 60),
    name,
    storage,
    authorizationParams: params,
    lockTimeout,
    discoveryTtl: seconds('discoveryTtl', options.discoveryTtl, 86400),
    metadata: options.metadata,
    fetch: fetchFn,
  }
}

import type { AuthorizationServer } from 'oauth4webapi'
import { AuthError } from './errors.js'

/**
 * Options of {@link createAuth}. Only `issuer`, `clientId` and `redirectUri` are required.
 * There is deliberately no client secret: a secret in browser code is no secret
 * (RFC 10017 §6.3.3.1); providers that require one go through `tokenProxy`.
 *
 * @example
 * ```ts
 * import type { AuthOptions } from 'oauth-tabs'
 *
 * const options: AuthOptions = {
 *   issuer: 'https://id.example.com',
 *   clientId: 'my-spa',
 *   redirectUri: `${location.origin}/callback`,
 *   scope: 'openid profile offline_access',
 *   userInfo: true,
 * }
 * ```
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
  /** Seconds to wait for another tab's refresh before giving up. Default 20. */
  lockTimeout?: number
  /** Seconds for which discovered provider metadata is reused from storage. Default 86400. */
  discoveryTtl?: number
  /**
   * Provider metadata (RFC 8414 names). With `authorization_endpoint` and `token_endpoint` it replaces
   * discovery (providers without a discovery document); with fewer it is merged over the discovered
   * document, e.g. `{ revocation_endpoint: '…' }` for a provider whose discovery omits it.
   */
  metadata?: Readonly<Partial<AuthorizationServer>>
  /**
   * Fetch the UserInfo endpoint after login and whenever a refresh brings a new ID token, and merge its
   * claims into `state.user` (many providers put `name` and `email` only there). Its `sub` must equal
   * the ID token's (OIDC Core §5.3.4), else nothing is merged and an `error` event says why. Default false.
   */
  userInfo?: boolean
  /**
   * Push the authorization request to the provider first (PAR, RFC 9126): the browser is sent to the
   * provider with only `client_id` and a `request_uri`. Automatic when the provider's metadata says
   * `require_pushed_authorization_requests`. Not with `tokenProxy` (the push would need the secret). Default false.
   */
  pushedAuthorization?: boolean
  /**
   * Sender-constrained tokens (DPoP, RFC 9449). One non-extractable ES256 key pair per client `name`,
   * made at the first login, kept in IndexedDB and used by every tab; the provider binds the tokens to
   * it (`token_type: DPoP`), so a token or refresh token copied out of the browser is useless without the
   * key, which cannot be exported. Every token request and every {@link Auth.fetch} to `apiOrigins`
   * carries a fresh proof (`Authorization: DPoP <token>`); server nonces cost one retry, once for all
   * tabs. A `Bearer` answer is then refused as a downgrade (`invalid_response`). Logout and a session
   * that ends delete the key; the next login makes a new one. Loaded only when on. Default false.
   * @see https://www.rfc-editor.org/rfc/rfc9449
   * @example
   * ```ts
   * import { createAuth } from 'oauth-tabs'
   *
   * const auth = createAuth({
   *   issuer: 'https://id.example.com',
   *   clientId: 'my-spa',
   *   redirectUri: `${location.origin}/callback`,
   *   scope: 'openid offline_access api',
   *   apiOrigins: ['https://api.example.com'],
   *   dpop: true,
   * })
   * await auth.fetch('https://api.example.com/me') // Authorization: DPoP …, DPoP: <proof>
   * ```
   */
  dpop?: boolean
  /** The `fetch` used for provider requests. Default: the global `fetch`. */
  fetch?: typeof fetch
}

/** Options after validation and defaults. Internal. */
export interface Config {
  issuer: URL
  /** The issuer exactly as configured (`new URL` adds a trailing slash to a path-less one). */
  issuerId: string
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
  userInfo: boolean
  pushedAuthorization: boolean
  dpop: boolean
  fetch: typeof fetch
}

const LOOPBACK = /^(localhost|127\.0\.0\.1|\[::1\])$/

/** A value for a message: strings quoted, anything else by type (its toString may throw or lie). */
const show = (value: unknown) => (typeof value === 'string' ? JSON.stringify(value) : typeof value)

function fail(option: string, problem: string): never {
  throw new AuthError('config', `options.${option} ${problem}`)
}

/** An absolute http(s) URL without fragment or credentials; http only on loopback hosts (RFC 8252 §8.3, RFC 9700 §2.6). */
function secureUrl(option: string, value: unknown, base?: string): URL {
  let url: URL | undefined
  try {
    url = new URL(value as string, base)
  } catch {
    /* reported below */
  }
  if (typeof value !== 'string' || !url || url.hash || url.username || !(url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.test(url.hostname)))) {
    fail(option, `must be an absolute https URL (http only on localhost, 127.0.0.1, [::1]) without fragment; got ${show(value)}`)
  }
  return url
}

function seconds(option: string, value: unknown, fallback: number, min = 0): number {
  const n = value ?? fallback
  if (typeof n !== 'number' || !(n >= min)) fail(option, `must be a number of seconds >= ${min}`)
  return n * 1000
}

/**
 * Validates options and fills in defaults. Every problem is an `AuthError` with
 * code `config` whose message names the option.
 */
export function resolveConfig(options: AuthOptions): Config {
  const o = options ?? ({} as AuthOptions)
  for (const secret of ['clientSecret', 'client_secret']) {
    if (secret in o) fail(secret, 'is refused: a secret in a browser is public; use a token proxy (oauth-tabs/server)')
  }
  const here = location.origin
  const issuer = secureUrl('issuer', o.issuer)
  if (issuer.search) fail('issuer', 'must not have a query')
  if (typeof o.clientId !== 'string' || !o.clientId) fail('clientId', 'must be a non-empty string')
  const scope = o.scope ?? 'openid'
  // RFC 6749 §3.3: scope tokens separated by single spaces.
  if (typeof scope !== 'string' || !/^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/.test(scope)) fail('scope', 'must be scope tokens separated by single spaces')
  const apiOrigins = o.apiOrigins ?? (here ? [here] : [])
  if (!Array.isArray(apiOrigins)) fail('apiOrigins', 'must be an array of origins')
  for (const origin of apiOrigins) {
    // An origin is its own URL's origin: no path, no trailing slash, no wildcard.
    if (typeof origin !== 'string' || origin.includes('*') || !/^https?:/.test(origin) || originOf(origin) !== origin) {
      fail('apiOrigins', `must list origins like "https://api.example.com"; got ${show(origin)}`)
    }
  }
  const name = o.name ?? 'default'
  if (typeof name !== 'string' || !/^[\w.-]{1,64}$/.test(name)) fail('name', 'must be 1-64 of [A-Za-z0-9_.-]')
  const storage = o.storage ?? 'indexeddb'
  if (storage !== 'indexeddb' && storage !== 'memory') fail('storage', 'must be "indexeddb" or "memory"')
  for (const flag of ['userInfo', 'pushedAuthorization', 'dpop'] as const) {
    if (o[flag] !== undefined && typeof o[flag] !== 'boolean') fail(flag, 'must be true or false')
  }
  if (o.pushedAuthorization && o.tokenProxy) fail('pushedAuthorization', 'cannot be used with tokenProxy (pushing the request would need the client secret)')
  const params = o.authorizationParams ?? {}
  if (typeof params !== 'object' || !params || Object.values(params).some((v) => typeof v !== 'string')) fail('authorizationParams', 'must have string values')
  const metadata = o.metadata
  if (metadata !== undefined && (typeof metadata !== 'object' || !metadata || Array.isArray(metadata))) fail('metadata', 'must be an object of provider metadata')
  return {
    issuer,
    issuerId: o.issuer,
    clientId: o.clientId,
    redirectUri: secureUrl('redirectUri', o.redirectUri).href,
    scope,
    openid: scope.split(' ').includes('openid'),
    apiOrigins,
    postLogoutRedirectUri: o.postLogoutRedirectUri && secureUrl('postLogoutRedirectUri', o.postLogoutRedirectUri).href,
    tokenProxy: o.tokenProxy && secureUrl('tokenProxy', o.tokenProxy, here).href,
    refreshSkew: seconds('refreshSkew', o.refreshSkew, 60),
    name,
    storage,
    authorizationParams: params,
    lockTimeout: seconds('lockTimeout', o.lockTimeout, 20, 0.001),
    discoveryTtl: seconds('discoveryTtl', o.discoveryTtl, 86400),
    metadata,
    userInfo: o.userInfo === true,
    pushedAuthorization: o.pushedAuthorization === true,
    dpop: o.dpop === true,
    // Looked up at call time, so a fetch patched after createAuth (tests, service mocks) is used.
    fetch: o.fetch ?? ((input, init) => fetch(input, init)),
  }
}

function originOf(value: string): string | undefined {
  try {
    return new URL(value).origin
  } catch {
    return undefined
  }
}

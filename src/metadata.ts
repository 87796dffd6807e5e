import * as oauth from 'oauth4webapi'
import type { Config } from './config.js'
import type { DPoPKeys } from './dpop.js'
import { AuthError } from './errors.js'
import { toAuthError } from './provider-errors.js'
import type { Store } from './store.js'
import { SCHEMA } from './tokens.js'

const LOOPBACK = /^(localhost|127\.0\.0\.1|\[::1\])$/

/** Timeout of one request to the token endpoint (the lock holder's bound, well under STEAL_AFTER). */
export const REQUEST_TIMEOUT = 15_000

/** What every request to the provider needs: its metadata, our client, and fetch options. */
export interface Provider {
  as: oauth.AuthorizationServer
  client: oauth.Client
  clientAuth: oauth.ClientAuth
  options: { [oauth.customFetch]: typeof fetch; [oauth.allowInsecureRequests]: boolean; [oauth.jwksCache]: oauth.JWKSCacheInput; signal?: AbortSignal }
  /** The DPoP key and nonces (`dpop: true`); its fetch already remembers every answer's nonce. */
  dpop?: DPoPKeys
}

interface StoredMetadata {
  v: typeof SCHEMA
  issuer: string
  at: number
  as: oauth.AuthorizationServer
}

/**
 * Returns a loader of the provider's metadata: memory first, then the store (within
 * `discoveryTtl`), then discovery, OpenID Connect first and RFC 8414 when that is absent.
 * The issuer in the document must equal the configured one (RFC 8414 §3.3), which
 * oauth4webapi checks. A warm page load therefore makes no discovery request.
 * `options.metadata` with both `authorization_endpoint` and `token_endpoint` replaces discovery;
 * with fewer, it is merged over the discovered document (to add what a provider omits).
 */
export function createProviderLoader(config: Config, store: Store, loadDPoP?: () => Promise<DPoPKeys>): () => Promise<Provider> {
  const options = {
    // RFC 6749 §5.1: token responses must not be cached, by anyone.
    [oauth.customFetch]: ((url, init) => config.fetch(url, { ...init, cache: 'no-store' })) as typeof fetch,
    // Config allows http only for loopback hosts; discovered endpoints must still be https then.
    [oauth.allowInsecureRequests]: config.issuer.protocol === 'http:' || config.tokenProxy?.startsWith('http:') === true,
    // The provider's signing keys, fetched on the first ID token, fresh for 5 minutes, fetched
    // again when a token names a key not in them (src/id-token.ts).
    [oauth.jwksCache]: {},
  }
  const client: oauth.Client = { client_id: config.clientId }
  if (config.metadata?.issuer !== undefined && !sameIssuer(config.metadata.issuer, config.issuerId)) {
    throw new AuthError('config', `options.metadata.issuer ${JSON.stringify(config.metadata.issuer)} differs from options.issuer`)
  }
  let loading: Promise<Provider> | undefined

  async function request(algorithm: 'oidc' | 'oauth2'): Promise<Response> {
    const response = await oauth.discoveryRequest(config.issuer, { ...options, algorithm, signal: AbortSignal.timeout(10_000) })
    // oauth4webapi never follows redirects (a redirect could point discovery anywhere); say so plainly.
    if (response.type === 'opaqueredirect' || (response.status >= 300 && response.status < 400)) {
      throw new AuthError('config', `Discovery of ${config.issuer.href} was answered with a redirect; set options.issuer exactly as the provider spells it, or give options.metadata`)
    }
    return response
  }

  async function discover(): Promise<oauth.AuthorizationServer> {
    try {
      let response = await request('oidc')
      // No OpenID Connect document: try RFC 8414's location.
      if (response.status === 404) response = await request('oauth2')
      return await oauth.processDiscoveryResponse(config.issuer, response)
    } catch (err) {
      throw toAuthError(err, 'Discovery')
    }
  }

  /** Discovered metadata: from the store within `discoveryTtl`, else from the provider. */
  async function discovered(): Promise<oauth.AuthorizationServer> {
    const now = Date.now()
    const stored = (await store.get('metadata')) as StoredMetadata | undefined
    if (stored?.v === SCHEMA && stored.issuer === config.issuer.href && now - stored.at < config.discoveryTtl && now >= stored.at) return stored.as
    const as = await discover()
    await store.update('metadata', () => ({ v: SCHEMA, issuer: config.issuer.href, at: now, as }))
    return as
  }

  async function load(): Promise<Provider> {
    const given = config.metadata
    // Complete metadata replaces discovery; partial metadata (an endpoint discovery omits) is merged over it.
    let as: oauth.AuthorizationServer
    if (given?.authorization_endpoint && given.token_endpoint) {
      as = { ...given, issuer: given.issuer ?? config.issuerId }
    } else {
      const found = await discovered()
      as = { ...found, ...given, issuer: found.issuer }
    }
    checkEndpoints(as, given)
    const dpop = await loadDPoP?.()
    if (config.tokenProxy) {
      // Code exchange, refresh and revocation go to our server, which adds the secret.
      const base = config.tokenProxy.replace(/\/?$/, '/')
      // The proxy forwards the browser's proof as is: it must name the provider's endpoint (RFC 9449 §4.3 htu).
      if (as.token_endpoint) dpop?.retarget(`${base}token`, as.token_endpoint)
      as = { ...as, token_endpoint: `${base}token`, revocation_endpoint: `${base}revoke` }
    }
    return { as, client, clientAuth: oauth.None(), options: dpop ? { ...options, [oauth.customFetch]: dpop.observe(options[oauth.customFetch]) } : options, dpop }
  }

  return () => (loading ??= load().catch((err: unknown) => {
    loading = undefined
    throw err
  }))
}

/** Endpoints the browser navigates to or calls: https, or http on a loopback host (like the issuer). */
const ENDPOINTS = ['authorization_endpoint', 'token_endpoint', 'revocation_endpoint', 'end_session_endpoint', 'userinfo_endpoint', 'jwks_uri', 'pushed_authorization_request_endpoint'] as const

/**
 * Refuses metadata whose endpoints are not web URLs: a `javascript:` authorization or end-session
 * endpoint would otherwise reach `location.assign`. `config` when it came from options, else `invalid_response`.
 */
function checkEndpoints(as: oauth.AuthorizationServer, given: Config['metadata']) {
  for (const name of ENDPOINTS) {
    const value = as[name]
    if (value === undefined) continue
    let url: URL | undefined
    try {
      url = new URL(value as string)
    } catch {
      /* reported below */
    }
    if (!url || !(url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.test(url.hostname)))) {
      const from = given?.[name] === value ? 'options.metadata' : 'The provider\'s metadata'
      throw new AuthError(given?.[name] === value ? 'config' : 'invalid_response', `${from} ${name} must be an https URL (http only on loopback)`)
    }
  }
}

/**
 * True when two issuer identifiers name the same issuer: equal strings, or a path-less issuer with
 * and without its trailing slash (`https://id.example` and `https://id.example/`).
 */
export function sameIssuer(a: string, b: string): boolean {
  if (a === b) return true
  try {
    const [x, y] = [new URL(a), new URL(b)]
    return x.href === y.href && x.pathname === '/'
  } catch {
    return false
  }
}

/**
 * Follows the provider's own spelling of a path-less issuer: when `seen` (the `iss` of a callback or an
 * ID token) names the same issuer as `as.issuer` with or without the trailing slash, the provider's
 * metadata from now on uses `seen`, so the exact comparisons of RFC 9207 and OIDC Core §3.1.3.7 pass.
 * Any other value is left for those checks to refuse.
 */
export function followIssuerSpelling(provider: Provider, seen: unknown): void {
  if (typeof seen === 'string' && seen !== provider.as.issuer && sameIssuer(seen, provider.as.issuer)) {
    provider.as = { ...provider.as, issuer: seen }
  }
}

/** The `iss` claim of the ID token in a token response, unverified (only to pick the issuer's spelling). */
export async function peekIdTokenIssuer(response: Response): Promise<unknown> {
  try {
    const body = (await response.clone().json()) as { id_token?: unknown }
    if (typeof body?.id_token !== 'string') return undefined
    const payload = body.id_token.split('.')[1]
    return (JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/'))) as { iss?: unknown }).iss
  } catch {
    return undefined
  }
}

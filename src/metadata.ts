import * as oauth from 'oauth4webapi'
import type { Config } from './config.js'
import { toAuthError } from './errors.js'
import type { Store } from './store.js'
import { SCHEMA } from './tokens.js'

/** Timeout of one request to the token endpoint (the lock holder's bound, well under STEAL_AFTER). */
export const REQUEST_TIMEOUT = 15_000

/** What every request to the provider needs: its metadata, our client, and fetch options. */
export interface Provider {
  as: oauth.AuthorizationServer
  client: oauth.Client
  clientAuth: oauth.ClientAuth
  options: { [oauth.customFetch]: typeof fetch; [oauth.allowInsecureRequests]: boolean; [oauth.jwksCache]: oauth.JWKSCacheInput; signal?: AbortSignal }
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
 */
export function createProviderLoader(config: Config, store: Store): () => Promise<Provider> {
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
  let loading: Promise<Provider> | undefined

  async function discover(): Promise<oauth.AuthorizationServer> {
    try {
      let response = await oauth.discoveryRequest(config.issuer, { ...options, algorithm: 'oidc', signal: AbortSignal.timeout(10_000) })
      // No OpenID Connect document: try RFC 8414's location.
      if (response.status === 404) {
        response = await oauth.discoveryRequest(config.issuer, { ...options, algorithm: 'oauth2', signal: AbortSignal.timeout(10_000) })
      }
      return await oauth.processDiscoveryResponse(config.issuer, response)
    } catch (err) {
      throw toAuthError(err, 'Discovery')
    }
  }

  async function load(): Promise<Provider> {
    let as: oauth.AuthorizationServer
    if (config.metadata) {
      as = { ...config.metadata, issuer: config.issuer.href }
    } else {
      const now = Date.now()
      const stored = (await store.get('metadata')) as StoredMetadata | undefined
      if (stored?.v === SCHEMA && stored.issuer === config.issuer.href && now - stored.at < config.discoveryTtl && now >= stored.at) {
        as = stored.as
      } else {
        as = await discover()
        await store.update('metadata', () => ({ v: SCHEMA, issuer: config.issuer.href, at: now, as }))
      }
    }
    if (config.tokenProxy) {
      // Code exchange, refresh and revocation go to our server, which adds the secret.
      const base = config.tokenProxy.replace(/\/?$/, '/')
      as = { ...as, token_endpoint: `${base}token`, revocation_endpoint: `${base}revoke` }
    }
    return { as, client, clientAuth: oauth.None(), options }
  }

  return () => (loading ??= load().catch((err: unknown) => {
    loading = undefined
    throw err
  }))
}

import * as oauth from 'oauth4webapi'
import type { Config } from './config.js'
import { toAuthError } from './provider-errors.js'
import type { Provider } from './metadata.js'

/**
 * Revokes a refresh token at the provider (RFC 7009, with `token_type_hint`). Never throws: logging out
 * must not fail because the provider is unreachable or has no revocation endpoint; each problem is
 * passed to `warn`, so the app can tell the user that the token stays valid until it expires.
 */
export async function revokeRefreshToken(provider: () => Promise<Provider>, refreshToken: string, warn: (message: string) => void): Promise<void> {
  try {
    const p = await provider()
    if (!p.as.revocation_endpoint) {
      warn('The provider has no revocation_endpoint (set it with options.metadata if it has one): the refresh token was not revoked and stays valid until it expires')
      return
    }
    await oauth.processRevocationResponse(
      await oauth.revocationRequest(p.as, p.client, p.clientAuth, refreshToken, {
        ...p.options,
        additionalParameters: { token_type_hint: 'refresh_token' },
        signal: AbortSignal.timeout(5000),
      }),
    )
  } catch (err) {
    warn(`Revocation failed: ${toAuthError(err, 'Revocation').message}`)
  }
}

/** The provider's RP-initiated logout URL (OpenID Connect RP-Initiated Logout 1.0), or undefined without one. */
export function endSessionUrl(config: Config, as: oauth.AuthorizationServer | undefined, idToken: string | undefined): string | undefined {
  if (!as?.end_session_endpoint || !config.postLogoutRedirectUri) return undefined
  const url = new URL(as.end_session_endpoint)
  url.searchParams.set('client_id', config.clientId)
  url.searchParams.set('post_logout_redirect_uri', config.postLogoutRedirectUri)
  if (idToken) url.searchParams.set('id_token_hint', idToken)
  return url.href
}

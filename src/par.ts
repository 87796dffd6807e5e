import * as oauth from 'oauth4webapi'
import { AuthError } from './errors.js'
import { toAuthError } from './provider-errors.js'
import { REQUEST_TIMEOUT, type Provider } from './metadata.js'

/**
 * Pushes the authorization request to the provider (RFC 9126) and returns the URL to navigate to,
 * which carries only `client_id` and the `request_uri` the provider gave back: the request's
 * parameters never travel through the browser's address bar. Loaded only when PAR is used.
 * @throws {@link AuthError} `config` without a `pushed_authorization_request_endpoint`; the provider's
 * refusal as a typed error (never a navigation to an error page).
 */
export async function pushAuthorizationRequest(provider: Provider, params: URLSearchParams, dpop?: oauth.DPoPHandle): Promise<URL> {
  const { as, client, clientAuth, options } = provider
  if (!as.pushed_authorization_request_endpoint) {
    throw new AuthError('config', 'pushedAuthorization: the provider has no pushed_authorization_request_endpoint')
  }
  let requestUri: string
  try {
    // With DPoP the push carries a proof (RFC 9449 §10.1); a use_dpop_nonce answer costs one retry.
    const push = async () =>
      oauth.processPushedAuthorizationResponse(as, client, await oauth.pushedAuthorizationRequest(as, client, clientAuth, params, { ...options, DPoP: dpop, signal: AbortSignal.timeout(REQUEST_TIMEOUT) }))
    requestUri = (await push().catch((err: unknown) => (oauth.isDPoPNonceError(err) ? push() : Promise.reject(err)))).request_uri
  } catch (err) {
    throw toAuthError(err, 'Pushed authorization request')
  }
  // A request_uri is a short reference (RFC 9126 §2.2); a huge one would make an absurd navigation URL.
  if (requestUri.length > 2048) throw new AuthError('invalid_response', 'Pushed authorization request: request_uri over 2048 characters')
  const url = new URL(as.authorization_endpoint!)
  url.search = new URLSearchParams({ client_id: client.client_id, request_uri: requestUri }).toString()
  return url
}

import * as oauth from 'oauth4webapi'
import { asAuthError, AuthError, providerText, type AuthErrorCode } from './errors.js'

/** Provider error codes (RFC 6749 §5.2, §4.1.2.1) that have a code of their own here. */
const OWN_CODES: Record<string, AuthErrorCode> = {
  access_denied: 'access_denied',
  invalid_grant: 'invalid_grant',
  login_required: 'login_required',
  temporarily_unavailable: 'server_error',
}

/** The code for an HTTP status that is not an OAuth error of its own. */
const byStatus = (status: number | undefined, otherwise: AuthErrorCode): AuthErrorCode =>
  status === 429 ? 'rate_limited' : status! >= 500 ? 'server_error' : otherwise

/** A member of a provider's error answer, if it is a string. */
const field = (source: unknown, name: string): string | undefined => {
  const value = source instanceof URLSearchParams ? source.get(name) : (source as Record<string, unknown> | undefined)?.[name]
  return typeof value === 'string' ? value : undefined
}

/**
 * Turns anything thrown while talking to a provider into an {@link AuthError}. Of the
 * provider's answer only `error`, `error_description`, `error_uri` and the HTTP status are
 * kept; the original error is kept as a sanitized copy (see {@link AuthError}), so the
 * response body, with any token in it, is not reachable from the result.
 */
export function toAuthError(err: unknown, what = 'Request'): AuthError {
  if (err instanceof AuthError) return err
  const cause = { cause: err }
  if (err instanceof oauth.AuthorizationResponseError || err instanceof oauth.ResponseBodyError) {
    const status = (err as oauth.ResponseBodyError).status
    const error = providerText(err.error, 200)
    const description = providerText(err.error_description, 1000)
    const code = OWN_CODES[err.error] ?? byStatus(status, status ? 'invalid_response' : 'authorization_error')
    return new AuthError(code, `${what} refused: ${error}${description ? ` (${description})` : ''}`, {
      ...cause,
      error,
      error_description: description,
      error_uri: field(err.cause, 'error_uri'),
      status,
    })
  }
  if (err instanceof oauth.WWWAuthenticateChallengeError) {
    const parameters = err.cause[0]?.parameters
    const error = providerText(parameters?.error, 200)
    return new AuthError(error === 'invalid_client' ? 'config' : 'invalid_response', `${what} refused: HTTP ${err.status} ${error ?? ''}; check clientId`, {
      ...cause,
      error,
      error_description: parameters?.error_description,
      error_uri: parameters?.error_uri,
      status: err.status,
    })
  }
  if (err instanceof oauth.OperationProcessingError || err instanceof oauth.UnsupportedOperationError) {
    // A non-JSON body, or a non-2xx that is not an OAuth error: a proxy's HTML page, a 502, a 404.
    if ([oauth.RESPONSE_IS_NOT_JSON, oauth.RESPONSE_IS_NOT_CONFORM, oauth.PARSE_ERROR].includes(err.code!)) {
      const status = err.cause instanceof Response ? err.cause.status : undefined
      return new AuthError(byStatus(status, 'server_error'), `${what}: not an OAuth response (HTTP ${status ?? '?'}); check the endpoint`, { ...cause, status })
    }
    return new AuthError('invalid_response', `${what}: ${err.message}`, cause)
  }
  return asAuthError(err, what)
}

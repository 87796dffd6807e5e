import * as oauth from 'oauth4webapi'

/**
 * The stable codes an {@link AuthError} carries. Switch on these, never on messages.
 *
 * - `config`: an option is wrong (the message names it) or the provider lacks something required.
 * - `login_required`: there is no session, or the provider ended it (`invalid_grant` on refresh).
 * - `state_mismatch`: the callback does not belong to a login started here (wrong, missing,
 *   replayed or expired `state`).
 * - `access_denied`: the user or the provider refused the authorization request.
 * - `authorization_error`: the authorization endpoint answered another `error=` (see `error`).
 * - `invalid_grant`: the provider refused the authorization code (expired, reused, wrong client).
 * - `invalid_response`: the provider's answer failed validation (`iss`, ID token, token response).
 * - `network`: the request did not reach the provider or timed out.
 * - `server_error`: the provider answered 5xx or something that is not an OAuth JSON response.
 * - `rate_limited`: the provider answered 429 and kept doing so.
 * - `lock_timeout`: another tab held the refresh lock too long and no valid token was left.
 * - `lock_lost`: another tab took the lock over while this one held it (this tab had been frozen
 *   or asleep past the takeover time); what this tab was doing may not have finished. Try again.
 * - `insufficient_scope`: an API answered 403 `insufficient_scope` (see `scope`).
 */
export type AuthErrorCode =
  | 'config'
  | 'login_required'
  | 'state_mismatch'
  | 'access_denied'
  | 'authorization_error'
  | 'invalid_grant'
  | 'invalid_response'
  | 'network'
  | 'server_error'
  | 'rate_limited'
  | 'lock_timeout'
  | 'lock_lost'
  | 'insufficient_scope'

/** Extra details of an {@link AuthError}. */
export interface AuthErrorInit {
  /** The underlying error, kept for debugging. */
  cause?: unknown
  /** The provider's own error code, as sent (`invalid_grant`, `access_denied`, ...). */
  error?: string
  /** The provider's `error_description`, as sent. */
  error_description?: string
  /** The HTTP status of the response that failed, where there was one. */
  status?: number
  /** For `insufficient_scope`: the scope the API asked for. */
  scope?: string
}

/**
 * The one error type oauth-tabs throws. `code` is ours and stable; `error` and
 * `error_description` are the provider's, where it sent them.
 *
 * @example
 * ```ts
 * import { AuthError } from 'oauth-tabs'
 *
 * try {
 *   await auth.handleRedirect()
 * } catch (err) {
 *   if (err instanceof AuthError && err.code === 'access_denied') showMessage('Login cancelled')
 *   else throw err
 * }
 * ```
 */
export class AuthError extends Error {
  declare readonly name: 'AuthError'
  /** Our stable code; see {@link AuthErrorCode}. */
  declare readonly code: AuthErrorCode
  /** The provider's error code, as sent. */
  declare readonly error?: string
  /** The provider's error description, as sent. */
  declare readonly error_description?: string
  /** The HTTP status involved, where there was one. */
  declare readonly status?: number
  /** For `insufficient_scope`: the scope the API requires. */
  declare readonly scope?: string

  /**
   * @param code - the stable code
   * @param message - what failed and what to do about it; never a token, code or secret
   * @param init - provider error fields, status and cause
   */
  constructor(code: AuthErrorCode, message: string, init: AuthErrorInit = {}) {
    super(message, { cause: init.cause })
    Object.assign(this, { name: 'AuthError', code, error: init.error, error_description: init.error_description, status: init.status, scope: init.scope })
  }
}

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

/**
 * Turns anything thrown while talking to a provider into an {@link AuthError},
 * keeping the original as `cause`. oauth4webapi's errors carry the details.
 */
export function toAuthError(err: unknown, what = 'Request'): AuthError {
  if (err instanceof AuthError) return err
  const cause = { cause: err }
  if (err instanceof oauth.AuthorizationResponseError || err instanceof oauth.ResponseBodyError) {
    const status = (err as oauth.ResponseBodyError).status
    const code = OWN_CODES[err.error] ?? byStatus(status, status ? 'invalid_response' : 'authorization_error')
    return new AuthError(code, `${what} refused: ${err.error}${err.error_description ? ` (${err.error_description})` : ''}`, { ...cause, error: err.error, error_description: err.error_description, status })
  }
  if (err instanceof oauth.WWWAuthenticateChallengeError) {
    const error = err.cause[0]?.parameters.error
    return new AuthError(error === 'invalid_client' ? 'config' : 'invalid_response', `${what} refused: HTTP ${err.status} ${error ?? ''}; check clientId`, { ...cause, error, status: err.status })
  }
  if (err instanceof oauth.OperationProcessingError || err instanceof oauth.UnsupportedOperationError) {
    // A non-JSON body, or a non-2xx that is not an OAuth error: a proxy's HTML page, a 502, a 404.
    if ([oauth.RESPONSE_IS_NOT_JSON, oauth.RESPONSE_IS_NOT_CONFORM, oauth.PARSE_ERROR].includes(err.code!)) {
      const status = err.cause instanceof Response ? err.cause.status : undefined
      return new AuthError(byStatus(status, 'server_error'), `${what}: not an OAuth response (HTTP ${status ?? '?'}); check the endpoint`, { ...cause, status })
    }
    return new AuthError('invalid_response', `${what}: ${err.message}`, cause)
  }
  const name = (err as Error | null)?.name
  return err instanceof TypeError || name === 'AbortError' || name === 'TimeoutError'
    ? new AuthError('network', `${what}: provider unreachable (${name}); check the network and CORS`, cause)
    : new AuthError('server_error', `${what} failed: ${String((err as Error)?.message ?? err)}`, cause)
}


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
 * - `popup_blocked`: the browser refused to open the login popup (call `login({ popup: true })` from a click).
 * - `popup_closed`: the user closed the login popup before the login finished.
 *
 * @example
 * ```ts
 * import { AuthError, type AuthErrorCode } from 'oauth-tabs'
 *
 * const retryable: AuthErrorCode[] = ['network', 'server_error', 'rate_limited', 'lock_timeout']
 * auth.getAccessToken().catch((err) => {
 *   if (err instanceof AuthError && retryable.includes(err.code)) showMessage('Try again in a moment')
 * })
 * ```
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
  | 'popup_blocked'
  | 'popup_closed'

/**
 * Extra details of an {@link AuthError}.
 * @example
 * ```ts
 * import { AuthError, type AuthErrorInit } from 'oauth-tabs'
 *
 * const init: AuthErrorInit = { error: 'invalid_grant', status: 400 }
 * const err = new AuthError('login_required', 'Session ended at the provider; log in', init) // e.g. in a test double
 * ```
 */
export interface AuthErrorInit {
  /**
   * The underlying error, for debugging. It is not kept as given: the error keeps a sanitized
   * copy (see {@link AuthError}), never a Response, a body or a library's error object.
   */
  cause?: unknown
  /** The provider's own error code, as sent (`invalid_grant`, `access_denied`, ...). */
  error?: string
  /** The provider's `error_description`, as sent (token-like strings redacted). */
  error_description?: string
  /** The provider's `error_uri`, as sent. */
  error_uri?: string
  /** The HTTP status of the response that failed, where there was one. */
  status?: number
  /** For `insufficient_scope`: the scope the API asked for. */
  scope?: string
}

/**
 * The one error type oauth-tabs throws. `code` is ours and stable; `error`,
 * `error_description` and `error_uri` are the provider's (RFC 6749 §5.2), where it sent them.
 *
 * No token, authorization code or PKCE verifier is reachable from an `AuthError`, so it is safe
 * to log and to hand to error reporters: its `cause` chain holds only sanitized copies
 * (`name`, `code`, a message with token-like strings redacted), never the provider's response
 * or its body, and provider-sent text has token-like strings replaced by `[redacted]`.
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
  /** Always `'AuthError'` (survives minification, unlike the class name). */
  declare readonly name: 'AuthError'
  /** Our stable code; see {@link AuthErrorCode}. */
  declare readonly code: AuthErrorCode
  /** The provider's error code, as sent. */
  declare readonly error?: string
  /** The provider's error description, as sent (token-like strings redacted). */
  declare readonly error_description?: string
  /** The provider's `error_uri`, as sent. */
  declare readonly error_uri?: string
  /** The HTTP status involved, where there was one. */
  declare readonly status?: number
  /** For `insufficient_scope`: the scope the API requires. */
  declare readonly scope?: string

  /**
   * @param code - the stable code
   * @param message - what failed and what to do about it; never a token, code or secret
   * (token-like strings are redacted all the same)
   * @param init - provider error fields, status and cause (kept only as a sanitized copy)
   */
  constructor(code: AuthErrorCode, message: string, init: AuthErrorInit = {}) {
    const cause = sanitizedCause(init.cause)
    super(providerText(message, 2000), cause === undefined ? undefined : { cause })
    Object.assign(this, {
      name: 'AuthError',
      code,
      error: providerText(init.error, 200),
      error_description: providerText(init.error_description, 1000),
      error_uri: providerText(init.error_uri, 1000),
      status: init.status,
      scope: providerText(init.scope, 1000),
    })
  }
}

/**
 * Replaces token-like runs in `text` with `[redacted]`: 20 or more characters of the base64url
 * (or base64) alphabet with a letter and a digit, or 40 or more of them (JWTs, refresh tokens,
 * codes, verifiers, Basic credentials). Plain words, paths and OAuth error codes are kept.
 */
function redact(text: string): string {
  return text.replace(/[\w+/-]{20,}=*(?:\.[\w+/-]*=*)*/g, (run) => (run.length >= 40 || (/\d/.test(run) && /[A-Za-z]/.test(run)) ? '[redacted]' : run))
}

/** A provider- or library-sent string, fit for an error: control characters gone, redacted, capped. */
export function providerText(value: unknown, max: number): string | undefined {
  if (typeof value !== 'string') return undefined
  // eslint-disable-next-line no-control-regex
  const text = redact(value.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' '))
  return text.length > max ? `${text.slice(0, max)}…` : text
}

/**
 * A copy of `cause` that is safe to keep: an `Error` with the original's `name`, string `code`
 * and message (redacted; a JSON parser's message, which quotes the body, is dropped), and the
 * same for its own cause when that is an error, at most 3 deep. Responses, bodies, URLSearchParams
 * and other objects are not kept (a Response becomes `Response: HTTP <status>`). An AuthError
 * is already clean and is kept as it is.
 */
function sanitizedCause(cause: unknown, depth = 0): Error | undefined {
  if (cause === undefined || cause === null || depth > 3) return undefined
  if (cause instanceof AuthError) return cause
  try {
    if (typeof Response !== 'undefined' && cause instanceof Response) return copy('Response', undefined, `HTTP ${cause.status}`)
    if (typeof cause !== 'object' && typeof cause !== 'function') return copy('Error', undefined, typeof cause === 'string' ? cause : typeof cause)
    const { name, message, code } = cause as { name?: unknown; message?: unknown; code?: unknown }
    if (typeof message !== 'string') return undefined
    const safeName = typeof name === 'string' && /^[\w$.]{1,64}$/.test(name) ? name : 'Error'
    const safeCode = typeof code === 'string' && /^[\w.:-]{1,64}$/.test(code) ? code : undefined
    const text = safeName === 'SyntaxError' ? 'invalid JSON' : message
    // Only errors (and a Response, as its status) are followed: oauth4webapi keeps bodies,
    // claims and callback parameters as `cause`, which are dropped here.
    const inner = (cause as { cause?: unknown }).cause
    const nested = inner instanceof Error || (typeof Response !== 'undefined' && inner instanceof Response) ? sanitizedCause(inner, depth + 1) : undefined
    return copy(safeName, safeCode, text, nested)
  } catch {
    // A cause whose properties throw when read: keep nothing of it.
    return undefined
  }
}

function copy(name: string, code: string | undefined, message: string, cause?: Error): Error {
  const text = providerText(message, 500) ?? ''
  const error = new Error(text, cause ? { cause } : undefined)
  Object.defineProperty(error, 'name', { value: name, writable: true, configurable: true, enumerable: false })
  if (code) Object.defineProperty(error, 'code', { value: code, writable: true, configurable: true, enumerable: true })
  // The copy's own stack would point here, not where the original was thrown: keep only its header.
  Object.defineProperty(error, 'stack', { value: `${name}: ${text}`, writable: true, configurable: true, enumerable: false })
  return error
}

/**
 * Any failure outside the provider protocol as an {@link AuthError}: an AuthError as it is, a
 * network failure (`TypeError`, abort, timeout, a lazily loaded chunk that could not be fetched)
 * as `network`, anything else as `server_error`. Provider answers go through `toAuthError`.
 */
export function asAuthError(err: unknown, what = 'Request'): AuthError {
  if (err instanceof AuthError) return err
  const name = (err as Error | null)?.name
  return err instanceof TypeError || name === 'AbortError' || name === 'TimeoutError'
    ? new AuthError('network', `${what}: provider unreachable (${name}); check the network and CORS`, { cause: err })
    : new AuthError('server_error', `${what} failed: ${err instanceof Error && err.name === 'SyntaxError' ? 'invalid JSON' : String((err as Error)?.message ?? err)}`, { cause: err })
}

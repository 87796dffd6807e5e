import { AuthError, type AuthErrorCode } from './errors.js'
import type { AuthState } from './state.js'

/** Codes a popup's callback page may report; anything else arrives as `authorization_error`. */
const KNOWN: AuthErrorCode[] = ['state_mismatch', 'access_denied', 'authorization_error', 'invalid_grant', 'invalid_response', 'network', 'server_error', 'rate_limited', 'config', 'login_required']

/** How often the opener looks whether the user closed the popup. */
const POLL = 250

/** What a popup's callback page reports to the tab that opened it (over the tabs' channel). */
export interface PopupOutcome {
  state: string
  error?: { code: string; message: string }
}

/**
 * Waits for the popup login of `state` to end: resolves with the new state once the popup's callback
 * page has stored the tokens (every tab hears that login), rejects with the popup's error, or with
 * `popup_closed` as soon as the user closes it. Closes the popup and leaves no timer behind.
 */
export function waitForPopup(
  popup: Window,
  state: string,
  listen: (onOutcome: (outcome: PopupOutcome) => void) => () => void,
  current: () => AuthState,
): Promise<AuthState> {
  return new Promise((resolve, reject) => {
    const finish = (error?: AuthError) => {
      clearInterval(poll)
      stop()
      try {
        popup.close()
      } catch {
        /* already gone */
      }
      if (error) reject(error)
      else resolve(current())
    }
    const stop = listen((outcome) => {
      if (outcome.state !== state) return
      if (outcome.error) {
        const code = KNOWN.includes(outcome.error.code as AuthErrorCode) ? (outcome.error.code as AuthErrorCode) : 'authorization_error'
        return finish(new AuthError(code, String(outcome.error.message)))
      }
      // The popup announces the tokens before its outcome (one sender: in order), so this tab holds them.
      finish(current().status === 'authenticated' ? undefined : new AuthError('invalid_response', 'The popup reported a login this tab did not receive; log in again'))
    })
    const poll = setInterval(() => {
      if (popup.closed) finish(new AuthError('popup_closed', 'The login popup was closed before the login finished'))
    }, POLL)
  })
}

import type { Config } from './config.js'

/** Parameters the callback URL loses once handled (RFC 9700 §4.2.4: no code in history). */
const CALLBACK_PARAMS = ['code', 'state', 'iss', 'error', 'error_description', 'error_uri', 'session_state']

/** True when `href` is the configured redirect URI (query and fragment aside). */
export function isRedirectUri(config: Config, href: string): boolean {
  const url = new URL(href)
  const expected = new URL(config.redirectUri)
  return url.origin === expected.origin && url.pathname === expected.pathname
}

/** The callback URL without the OAuth parameters, for `history.replaceState`. */
export function withoutCallbackParams(href: string): string {
  const url = new URL(href)
  for (const name of CALLBACK_PARAMS) url.searchParams.delete(name)
  return url.href
}

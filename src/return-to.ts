import { AuthError } from './errors.js'

/**
 * A path that stays on `origin` when used as a URL: it starts with one `/` (never `//` or `/\`,
 * which browsers read as another host), and holds printable ASCII only, no backslash (no control
 * character, space or backslash that a browser would strip or rewrite on the way).
 */
function isSafePath(path: string, origin: string): boolean {
  if (!/^\/(?![/\\])[\x21-\x5b\x5d-\x7e]*$/.test(path)) return false
  try {
    return new URL(path, origin).origin === origin
  } catch {
    return false
  }
}

/** The path, query and fragment of `url`, with backslashes in query and fragment escaped. */
const pathOf = (url: URL, pathname = url.pathname) => pathname + (url.search + url.hash).replaceAll('\\', '%5C')

const refuse = (returnTo: unknown): never => {
  throw new AuthError('config', `returnTo must be a path on this origin; got ${typeof returnTo === 'string' ? JSON.stringify(returnTo.slice(0, 200)) : typeof returnTo}`)
}

/**
 * The `returnTo` of a login as a path on this origin (RFC 9700 §4.11.1: no open redirector),
 * safe to pass to `location.assign` or `history.replaceState`: resolved against the page, it
 * always lands on the page's own origin.
 *
 * - Given (`login({ returnTo })`): a path or an absolute URL of this origin. Anything that
 *   leaves the origin, is not http(s), resolves to a path starting with `//` (such as
 *   `/.//evil.example/x`), or holds a control character or a backslash (which browsers strip or
 *   rewrite) is refused with an {@link AuthError} `config`.
 * - Not given: the current page, normalised: leading slashes of its path collapse to one (a page
 *   at `https://app.example//evil.example/x` returns to `/evil.example/x`).
 *
 * @param returnTo - the app's value, or `undefined` for the current page
 * @param page - the page URL to resolve against (default `location.href`)
 * @throws {@link AuthError} `config` for a given `returnTo` that is not a safe path on this origin
 */
export function safeReturnTo(returnTo: string | undefined, page: string = location.href): string {
  const here = new URL(page)
  if (returnTo === undefined) {
    const path = pathOf(here, here.pathname.replace(/^\/+/, '/'))
    return isSafePath(path, here.origin) ? path : '/'
  }
  // eslint-disable-next-line no-control-regex
  if (typeof returnTo !== 'string' || /[\u0000-\u001f\u007f\\]/.test(returnTo)) return refuse(returnTo)
  let url: URL
  try {
    url = new URL(returnTo, here)
  } catch {
    return refuse(returnTo)
  }
  const path = pathOf(url)
  if (url.origin !== here.origin || !/^https?:$/.test(url.protocol) || !isSafePath(path, here.origin)) return refuse(returnTo)
  return path
}

/**
 * A `returnTo` read back from storage, checked again (storage is not trusted: another script of
 * the origin, or an older version, may have written it): the value when it is a safe path on
 * this origin (see {@link safeReturnTo}), else `/`.
 *
 * @param stored - whatever the pending login record holds
 * @param page - the page URL whose origin the path must stay on (default `location.href`)
 */
export function storedReturnTo(stored: unknown, page: string = location.href): string {
  if (typeof stored !== 'string' || !stored.startsWith('/')) return '/'
  try {
    // The same test as a given value, and the value must be the path it normalises to
    // (`/.//evil.example` resolves to `//evil.example`: refused).
    return safeReturnTo(stored, page) === stored ? stored : '/'
  } catch {
    return '/'
  }
}

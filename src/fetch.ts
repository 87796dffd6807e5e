import { AuthError } from './errors.js'

/** A parameter of a `WWW-Authenticate: Bearer` challenge (RFC 6750 §3), e.g. `error` or `scope`. */
function challenge(response: Response, name: string): string | undefined {
  return response.headers.get('www-authenticate')?.match(new RegExp(`(?:^|[\\s,])${name}="([^"]*)"`))?.[1]
}

/**
 * Builds the authenticated `fetch`. The token goes only to allowed origins, compared as
 * parsed origins (RFC 9700 §4.10: no token for look-alike hosts, other ports or schemes),
 * and only over http(s).
 *
 * The target is read from the request that is actually sent: `new Request(input, init)` is
 * built once, its `url` decides, and that same object goes to `fetch`. So a `Request` from
 * another realm (an iframe, a polyfill, a test framework), a `URL`, an object with a
 * `toString`, a relative URL resolved against the document's base URL (a `<base>` element
 * included) or a protocol-relative one all go where the check says they go. Every other
 * request is passed through untouched, as is one that already has an Authorization header.
 * A 401 (`invalid_token`, or no error code) leads to one forced refresh and one retry with the
 * same body (streams included); a 403 `insufficient_scope` never refreshes and throws
 * `insufficient_scope` with the scope the API asked for (RFC 6750 §3.1).
 *
 * @param getToken - resolves to a valid token; given a refused token, to a newer one
 * @param send - sends a request with the token: `Authorization: Bearer`, or DPoP's scheme and proof
 */
export function createAuthFetch(
  allowedOrigins: readonly string[],
  getToken: (refused?: string) => Promise<string>,
  fetchFn: typeof fetch,
  send: (request: Request, token: string) => Promise<Response> = (request, token) => {
    request.headers.set('Authorization', `Bearer ${token}`)
    return fetchFn(request)
  },
): typeof fetch {
  return async (input, init) => {
    let request: Request
    try {
      request = new Request(input, init)
    } catch {
      // Not a request fetch could send (a bad URL or init): no token; let fetch report it.
      return fetchFn(input, init)
    }
    const url = new URL(request.url)
    const allowed = (url.protocol === 'https:' || url.protocol === 'http:') && allowedOrigins.includes(url.origin)
    // Not ours to authenticate: send the very request that was checked, untouched. (Sending
    // `input` again could resolve elsewhere: a toString that changes, a consumed body.)
    if (!allowed || request.headers.has('authorization')) return fetchFn(request)

    const token = await getToken()
    // A copy made before the body is consumed, so the retry can send it again.
    const spare = request.clone()
    const response = await send(request, token)
    const error = challenge(response, 'error')
    if (response.status === 403 && error === 'insufficient_scope') {
      const scope = challenge(response, 'scope')
      throw new AuthError('insufficient_scope', `The API needs scope "${scope}"`, { status: 403, error, scope })
    }
    if (response.status !== 401 || (error && error !== 'invalid_token')) return response

    const fresh = await getToken(token)
    if (fresh === token) return response
    return send(spare, fresh)
  }
}

import { AuthError } from './errors.js'

/** A parameter of a `WWW-Authenticate: Bearer` challenge (RFC 6750 §3), e.g. `error` or `scope`. */
function challenge(response: Response, name: string): string | undefined {
  return response.headers.get('www-authenticate')?.match(new RegExp(`(?:^|[\\s,])${name}="([^"]*)"`))?.[1]
}

/**
 * Builds the authenticated `fetch`. The token goes only to allowed origins, compared as
 * parsed origins (RFC 9700 §4.10: no token for look-alike hosts, other ports or schemes);
 * every other request is passed through untouched, as is one that already has an
 * Authorization header. A 401 (`invalid_token`, or no error code) leads to one forced refresh and
 * one retry; a 403 `insufficient_scope` never refreshes and throws `insufficient_scope` with the
 * scope the API asked for (RFC 6750 §3.1).
 *
 * @param getToken - resolves to a valid token; given a refused token, to a newer one
 */
export function createAuthFetch(
  allowedOrigins: readonly string[],
  getToken: (refused?: string) => Promise<string>,
  fetchFn: typeof fetch,
): typeof fetch {
  return async (input, init) => {
    const href = input instanceof Request ? input.url : String(input)
    let origin: string | undefined
    try {
      origin = new URL(href, location.href).origin
    } catch {
      /* not a URL we can attach to: pass through and let fetch report it */
    }
    const request = origin && allowedOrigins.includes(origin) ? new Request(input, init) : undefined
    if (!request || request.headers.has('authorization')) return fetchFn(input, init)

    const token = await getToken()
    // A copy made before the body is consumed, so the retry can send it again.
    const spare = request.clone()
    request.headers.set('Authorization', `Bearer ${token}`)
    const response = await fetchFn(request)
    const error = challenge(response, 'error')
    if (response.status === 403 && error === 'insufficient_scope') {
      const scope = challenge(response, 'scope')
      throw new AuthError('insufficient_scope', `The API needs scope "${scope}"`, { status: 403, error, scope })
    }
    if (response.status !== 401 || (error && error !== 'invalid_token')) return response

    const fresh = await getToken(token)
    if (fresh === token) return response
    spare.headers.set('Authorization', `Bearer ${fresh}`)
    return fetchFn(spare)
  }
}

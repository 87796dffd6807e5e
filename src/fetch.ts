/**
 * Builds the authenticated `fetch`. The token goes only to allowed origins, compared as
 * parsed origins (RFC 9700 §4.10: no token for look-alike hosts, other ports or schemes);
 * every other request is passed through untouched, as is one that already has an
 * Authorization header. A 401 leads to one forced refresh and one retry.
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
    if (response.status !== 401) return response

    const fresh = await getToken(token)
    if (fresh === token) return response
    spare.headers.set('Authorization', `Bearer ${fresh}`)
    return fetchFn(spare)
  }
}

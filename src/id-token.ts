import * as oauth from 'oauth4webapi'
import { AuthError } from './errors.js'
import { toAuthError } from './provider-errors.js'
import { REQUEST_TIMEOUT, type Provider } from './metadata.js'
import type { User } from './tokens.js'

/**
 * Seconds by which the provider's clock may be ahead of ours: oauth4webapi's default
 * `clockTolerance`, which it applies to `exp` and `nbf` (oauth-tabs sets no other).
 */
export const CLOCK_TOLERANCE = 30

const refuse = (message: string): never => {
  throw new AuthError('invalid_response', message)
}

/** The audience as a sorted list, for comparing a string with a one-element array. */
const audiences = (aud: unknown): string => JSON.stringify((Array.isArray(aud) ? [...(aud as unknown[])] : [aud]).map(String).sort())

/**
 * Checks what oauth4webapi leaves to us: an `iat` in the future, a foreign `azp`, and for a
 * refreshed ID token the OIDC Core §12.2 rules against the one the session started with.
 */
function checkClaims(claims: oauth.IDToken, clientId: string, previous: User | undefined): void {
  if (claims.iat > Date.now() / 1000 + CLOCK_TOLERANCE) refuse('ID token issued in the future (iat); check the clocks')
  // OIDC Core §2: azp, when present, is the client the token was issued to. oauth4webapi checks
  // it only for several audiences; one audience with another party's azp is not for us either.
  if (claims.azp !== undefined && claims.azp !== clientId) refuse('ID token issued to another client (azp)')
  if (!previous) return
  // OIDC Core §12.2: a refreshed ID token is about the same authentication of the same user.
  if (claims.iss !== previous.iss) refuse('Refreshed ID token has another iss')
  if (claims.sub !== previous.sub) refuse('Refreshed ID token has another sub')
  if (audiences(claims.aud) !== audiences(previous.aud)) refuse('Refreshed ID token has another aud')
  if (claims.azp !== previous.azp) refuse('Refreshed ID token has another azp')
  // "SHOULD NOT" carry a nonce; one that is there must be the login's.
  if (claims.nonce !== undefined && claims.nonce !== previous.nonce) refuse('Refreshed ID token has another nonce')
  // auth_time, when sent, is the time of the original authentication, not of this refresh.
  if (claims.auth_time !== undefined && previous.auth_time !== undefined && claims.auth_time !== previous.auth_time) {
    refuse('Refreshed ID token has another auth_time')
  }
  // iat is the time the new token was issued: an older one is a replay.
  if (typeof previous.iat === 'number' && claims.iat < previous.iat - CLOCK_TOLERANCE) refuse('Refreshed ID token is older than the current one (iat)')
}

/** Runs `task` with a signal that aborts after `ms`; rejects with a `TimeoutError` then, whatever `task` does. */
async function withDeadline<T>(ms: number, task: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController()
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const reason = new DOMException(`No answer within ${ms / 1000} s`, 'TimeoutError')
      controller.abort(reason)
      reject(reason)
    }, ms)
  })
  try {
    // The race, not only the signal: a custom `fetch` that ignores signals cannot hold the lock either.
    return await Promise.race([task(controller.signal), deadline])
  } finally {
    clearTimeout(timer)
  }
}

/** True for oauth4webapi's "no key in the JWKS matches the token's header" (an unknown `kid`). */
const noMatchingKey = (err: unknown): boolean =>
  err instanceof oauth.OperationProcessingError && err.code === oauth.KEY_SELECTION && (err.cause as { candidates?: unknown[] } | undefined)?.candidates?.length === 0

/**
 * Verifies the signature against the provider's JWKS. The JWKS is kept in
 * `options[oauth.jwksCache]` (fresh for 5 minutes, oauth4webapi's rule). oauth4webapi
 * refetches it on an unknown `kid` only once it is a minute old, so a key the provider
 * started signing with in the meantime would be refused: when the key set used came from
 * before this call, an unknown `kid` clears it and the check runs once more against a
 * new fetch (OIDC Core §10.1.1). A `kid` unknown to a set fetched now is refused. The
 * whole check, refetch included, is bounded by {@link REQUEST_TIMEOUT}, since a refresh
 * runs it while holding the cross-tab lock.
 */
async function checkSignature(provider: Provider, raw: Response): Promise<void> {
  const cache = provider.options[oauth.jwksCache] as Partial<oauth.ExportedJWKSCache>
  // A copy of the metadata each time: oauth4webapi also caches per metadata object, out of our
  // reach; with a new object it reads (and writes) only `cache`, which we can clear.
  const verify = (signal: AbortSignal) => oauth.validateApplicationLevelSignature({ ...provider.as }, raw, { ...provider.options, signal })
  try {
    await withDeadline(REQUEST_TIMEOUT, async (signal) => {
      const before = cache.uat
      try {
        await verify(signal)
      } catch (err) {
        // A set fetched during this call (none cached, or oauth4webapi's own refetch) is the latest.
        if (cache.uat !== before || !noMatchingKey(err)) throw err
        delete cache.jwks
        delete cache.uat
        await verify(signal)
      }
    })
  } catch (err) {
    throw toAuthError(err, 'ID token')
  }
}

/**
 * The ID token's claims, validated, or `undefined` when the response has none. oauth4webapi
 * has checked iss, aud (with azp for several audiences), exp, sub, and at login the nonce;
 * this adds an `iat` no more than {@link CLOCK_TOLERANCE} ahead, `azp` equal to our client
 * when present, and, for a refresh (`previous`: the user the session holds), the OIDC Core
 * §12.2 rules: the same iss, sub, aud and azp, no other nonce, the same auth_time, no older
 * iat. Then the signature, against the provider's JWKS: `alg: none`, an HMAC alg, or a key
 * the provider does not publish is refused (OIDC Core §3.1.3.7; RFC 9700 §4.5.3.2), so a man
 * in the middle of a TLS-terminating proxy cannot hand us another user. Nothing is stored
 * before this resolves.
 * @throws {@link AuthError} `invalid_response` for a claim or signature that fails, `network`
 * when the JWKS does not arrive within {@link REQUEST_TIMEOUT}.
 */
export async function validatedClaims(provider: Provider, response: oauth.TokenEndpointResponse, raw: Response, previous?: User): Promise<oauth.IDToken | undefined> {
  const claims = oauth.getValidatedIdTokenClaims(response)
  if (!claims) return undefined
  checkClaims(claims, provider.client.client_id, previous)
  await checkSignature(provider, raw)
  return claims
}

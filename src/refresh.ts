import * as oauth from 'oauth4webapi'
import { AuthError, toAuthError } from './errors.js'
import { validatedClaims } from './id-token.js'
import { REQUEST_TIMEOUT, type Provider } from './metadata.js'
import type { Store } from './store.js'
import type { Tabs } from './tabs.js'
import { isFresh, isTokenSet, isUsable, toTokenSet, type TokenSet } from './tokens.js'

/** What the refresher needs from the client. */
export interface RefreshDeps {
  store: Store
  tabs: Tabs
  provider: () => Promise<Provider>
  /** `refreshSkew` in ms. */
  skew: number
  /** The token set this tab holds now. */
  current: () => TokenSet | undefined
  /** Called with every set this tab adopts (`undefined`: the session ended). */
  adopt: (tokens: TokenSet | undefined, reason: 'refresh' | 'logout') => void
  warn: (message: string) => void
}

/** Tries per refresh on network errors, 5xx and 429 (one tab retries for all: it holds the lock). */
export const MAX_TRIES = 3
/** Longest wait between tries: a larger Retry-After is capped, so a refresh never holds the lock for long. */
const MAX_WAIT = 10_000

/** Reads the stored token set; a record this version does not understand is discarded with a warning. */
export async function readTokens(store: Store, warn: (message: string) => void): Promise<TokenSet | undefined> {
  const stored = await store.get('tokens')
  if (stored === undefined || isTokenSet(stored)) return stored
  await store.update('tokens', (s) => (isTokenSet(s) ? s : undefined))
  warn('Unreadable token record discarded')
  return undefined
}

/** Stores `next` unless a set of the same or a later generation is already there; resolves to the winner. */
export function storeTokens(store: Store, next: TokenSet): Promise<TokenSet> {
  return store.update('tokens', (s) => (isTokenSet(s) && s.gen >= next.gen ? s : next)) as Promise<TokenSet>
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Delay before try `n + 1`: Retry-After (seconds or HTTP date) when the provider sent it and exposed
 * it to scripts (CORS `Access-Control-Expose-Headers`), else exponential with full jitter, from 1 s
 * for a 429.
 */
function backoff(n: number, retryAfter: string | null | undefined, limited: boolean): number {
  const seconds = Number(retryAfter)
  const date = retryAfter ? Date.parse(retryAfter) - Date.now() : NaN
  const wait = retryAfter && Number.isFinite(seconds) ? seconds * 1000 : Number.isFinite(date) ? date : (limited ? 1000 : 0) + Math.random() * 500 * 2 ** n
  return Math.min(Math.max(wait, 0), MAX_WAIT)
}

/**
 * The one path by which tokens are refreshed. In this tab, callers share one flight;
 * across tabs, the flight runs under the origin-wide lock and first reads the store
 * again: if another tab already stored a newer set, that set is used and nothing is
 * sent. So a refresh token is presented at most once (RFC 9700 §4.14.2 reuse detection).
 */
export function createRefresher(deps: RefreshDeps): (stale?: string) => Promise<TokenSet> {
  // `stale`: an access token the API refused (a forced refresh); absent for a due refresh.
  let flight: Promise<TokenSet> | undefined

  /** The last token endpoint Response, for the ID token signature check. */
  let raw: Response | undefined

  async function grant(provider: Provider, refreshToken: string): Promise<oauth.TokenEndpointResponse> {
    for (let n = 1; ; n++) {
      if (navigator.onLine === false) {
        throw new AuthError('network', 'Offline; refreshing when back online')
      }
      let response: Response | undefined
      const fetchOnce: typeof fetch = async (url, init) => (raw = response = await provider.options[oauth.customFetch](url, init))
      try {
        return await oauth.processRefreshTokenResponse(
          provider.as,
          provider.client,
          await oauth.refreshTokenGrantRequest(provider.as, provider.client, provider.clientAuth, refreshToken, {
            ...provider.options,
            [oauth.customFetch]: fetchOnce,
            signal: AbortSignal.timeout(REQUEST_TIMEOUT),
          }),
        )
      } catch (err) {
        const error = toAuthError(err, 'Refresh')
        // Worth another try: the network, 429, and 5xx. A 4xx (a wrong URL's HTML page) will not change.
        const transient = error.code === 'network' || error.code === 'rate_limited' || (error.code === 'server_error' && !(error.status! < 500))
        if (n >= MAX_TRIES || !transient) throw error
        await sleep(backoff(n, response?.headers.get('retry-after'), error.code === 'rate_limited'))
      }
    }
  }

  async function underLock(stale: string | undefined): Promise<TokenSet> {
    const stored = await readTokens(deps.store, deps.warn)
    if (!stored) {
      deps.adopt(undefined, 'logout')
      throw new AuthError('login_required', 'No session; log in')
    }
    // The double check: another tab (or an earlier flight) already stored a newer set.
    if (stored.accessToken !== stale && isFresh(stored, Date.now())) {
      deps.adopt(stored, 'refresh')
      return stored
    }
    if (!stored.refreshToken) {
      if (stored.accessToken !== stale && isUsable(stored, Date.now())) return stored
      throw new AuthError('login_required', 'Token expired and no refresh token (offline_access?); log in')
    }
    const provider = await deps.provider()
    let response: oauth.TokenEndpointResponse
    try {
      response = await grant(provider, stored.refreshToken)
    } catch (err) {
      const error = toAuthError(err, 'Refresh')
      if (error.code !== 'invalid_grant') throw error
      // Refused: perhaps another tab rotated it (a stolen lock, a frozen holder waking up) and is
      // storing the new set right now. Adopt a newer set if one appears within 2 s; a refused
      // token that is still the newest after that ends the session.
      for (let n = 0; n < 8; n++) {
        const latest = await readTokens(deps.store, deps.warn)
        if (latest && latest.gen > stored.gen) {
          deps.adopt(latest, 'refresh')
          return latest
        }
        await sleep(250)
      }
      // Delete only if nothing newer arrived meanwhile (one transaction); else that set wins.
      const kept = (await deps.store.update('tokens', (s) => (isTokenSet(s) && s.gen > stored.gen ? s : undefined))) as TokenSet | undefined
      if (kept) {
        deps.adopt(kept, 'refresh')
        return kept
      }
      deps.tabs.announce({ type: 'logout', gen: stored.gen })
      deps.adopt(undefined, 'logout')
      throw new AuthError('login_required', 'Session ended at the provider; log in', {
        cause: error,
        error: error.error,
        error_description: error.error_description,
        status: error.status,
      })
    }
    const claims = await validatedClaims(provider, response, raw!, stored.user)
    const next = await storeTokens(deps.store, toTokenSet(response, claims, Date.now(), deps.skew, stored))
    deps.tabs.announce({ type: 'tokens', tokens: next })
    deps.adopt(next, 'refresh')
    return next
  }

  return (stale) =>
    (flight ??= deps.tabs
      .withLock(() => underLock(stale))
      .catch((err: unknown) => {
        // While another tab is stuck with the lock, a token that still works is better than an error.
        const current = deps.current()
        if (err instanceof AuthError && err.code === 'lock_timeout' && current?.accessToken !== stale && isUsable(current, Date.now())) return current
        throw err
      })
      .finally(() => (flight = undefined)))
}

import * as oauth from 'oauth4webapi'
import { AuthError } from './errors.js'
import { toAuthError } from './provider-errors.js'
import { validatedClaims } from './id-token.js'
import { followIssuerSpelling, peekIdTokenIssuer, REQUEST_TIMEOUT, type Provider } from './metadata.js'
import type { Store } from './store.js'
import type { Tabs } from './tabs.js'
import { readTokens, storeTokens } from './token-store.js'
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
  /** Called with every set this tab adopts; `fromOtherTab` when another tab stored it. */
  adopt: (tokens: TokenSet, fromOtherTab: boolean) => void
  /** Ends the session in every tab: the refresh token was refused (`logout`) or the token expired without one (`expired`). */
  end: (reason: 'logout' | 'expired', gen: number) => void
  /** Adds what a new set needs before it is stored (UserInfo claims when a new ID token came). */
  enrich: (next: TokenSet, previous: TokenSet) => Promise<TokenSet>
  /** Reports a refresh failure that ended the refresh token but not yet the session. */
  report: (error: AuthError) => void
  warn: (message: string) => void
}

/** Tries per refresh on network errors, 5xx and 429 (one tab retries for all: it holds the lock). */
export const MAX_TRIES = 3
/** Longest wait between tries: a larger Retry-After is capped, so a refresh never holds the lock for long. */
const MAX_WAIT = 10_000

/**
 * True for a refusal that retrying the same refresh token cannot fix: the provider's own OAuth error
 * (`invalid_request`, `invalid_client`, `unauthorized_client`, `invalid_scope`, `unsupported_grant_type`, …)
 * on a 4xx answer. Network errors, 429, 5xx and answers that are not OAuth errors may heal.
 */
function refusedForGood(error: AuthError): boolean {
  // A DPoP nonce or proof problem (RFC 9449 §8) means the request was not processed: the token is unspent.
  if (error.error === 'use_dpop_nonce' || error.error === 'invalid_dpop_proof') return false
  return !!error.error && error.error !== 'temporarily_unavailable' && error.status !== undefined && error.status >= 400 && error.status < 500 && error.status !== 429
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

  async function grant(provider: Provider, refreshToken: string, dpop: oauth.DPoPHandle | undefined): Promise<oauth.TokenEndpointResponse> {
    let nonced = false
    for (let n = 1; ; n++) {
      if (navigator.onLine === false) {
        throw new AuthError('network', 'Offline; refreshing when back online')
      }
      let response: Response | undefined
      raw = undefined
      const fetchOnce: typeof fetch = async (url, init) => (raw = response = await provider.options[oauth.customFetch](url, init))
      try {
        const answer = await oauth.refreshTokenGrantRequest(provider.as, provider.client, provider.clientAuth, refreshToken, {
          ...provider.options,
          [oauth.customFetch]: fetchOnce,
          DPoP: dpop,
          signal: AbortSignal.timeout(REQUEST_TIMEOUT),
        })
        followIssuerSpelling(provider, await peekIdTokenIssuer(answer))
        return await oauth.processRefreshTokenResponse(provider.as, provider.client, answer)
      } catch (err) {
        // RFC 9449 §8: the provider wants its nonce (the refresh token is not spent): one retry, not a try.
        if (!nonced && oauth.isDPoPNonceError(err)) {
          nonced = true
          n -= 1
          continue
        }
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
      deps.end('logout', deps.current()?.gen ?? 0)
      throw new AuthError('login_required', 'No session; log in')
    }
    // The double check: another tab (or an earlier flight) already stored a newer set.
    if (stored.accessToken !== stale && isFresh(stored, Date.now())) {
      deps.adopt(stored, stored.gen !== deps.current()?.gen)
      return stored
    }
    if (!stored.refreshToken) {
      const { gen } = stored
      if (isUsable(stored, Date.now())) {
        if (stored.accessToken !== stale) return stored
        throw new AuthError('login_required', 'The API refused the access token and there is no refresh token; log in')
      }
      // Expired with nothing to renew it: the session is over, here and in every tab.
      await deps.store.update('tokens', (s) => (isTokenSet(s) && s.gen > gen ? s : undefined))
      deps.end('expired', gen)
      throw new AuthError('login_required', 'Session expired (no refresh token: ask for offline_access?); log in')
    }
    const provider = await deps.provider()
    // Read again under the lock: a tab must not use a key that a logout elsewhere deleted.
    const dpop = stored.jkt ? await provider.dpop?.forTokens(stored.jkt, true) : undefined
    if (stored.jkt && !dpop) {
      // The refresh token is bound to a key that is gone (deleted with an ended session, or the app
      // turned DPoP off): it cannot be used, so the session is over.
      const kept = (await deps.store.update('tokens', (s) => (isTokenSet(s) && s.gen > stored.gen ? s : undefined))) as TokenSet | undefined
      if (kept) {
        deps.adopt(kept, true)
        return kept
      }
      deps.end('logout', stored.gen)
      throw new AuthError('login_required', 'The DPoP key of this session is gone; log in')
    }
    /**
     * Drops the refresh token (never sent again) and keeps the access token until it expires, when the
     * session ends as one without a refresh token; reports and throws `error`.
     */
    const abandon = async (error: AuthError): Promise<never> => {
      const { refreshToken: _, ...rest } = stored
      const next = await storeTokens(deps.store, { ...rest, gen: stored.gen + 1 })
      if (!next.refreshToken) deps.tabs.announce({ type: 'tokens', tokens: next })
      deps.adopt(next, next.refreshToken !== undefined)
      deps.report(error)
      throw error
    }
    let response: oauth.TokenEndpointResponse
    try {
      response = await grant(provider, stored.refreshToken, dpop)
    } catch (err) {
      const error = toAuthError(err, 'Refresh')
      if (error.code !== 'invalid_grant') {
        // Never send it again when the provider refused it with an error that retrying cannot fix (some
        // answer invalid_request where RFC 6749 says invalid_grant), or answered 200 with something we
        // refused (it has rotated the token by then: presenting it again would revoke the grant).
        if (!refusedForGood(error) && !(raw?.status === 200 && error.code === 'invalid_response')) throw error
        return abandon(error)
      }
      // Refused: perhaps another tab rotated it (a stolen lock, a frozen holder waking up) and is
      // storing the new set right now. Adopt a newer set if one appears within 2 s; a refused
      // token that is still the newest after that ends the session.
      for (let n = 0; n < 8; n++) {
        const latest = await readTokens(deps.store, deps.warn)
        if (latest && latest.gen > stored.gen) {
          deps.adopt(latest, true)
          return latest
        }
        await sleep(250)
      }
      // Delete only if nothing newer arrived meanwhile (one transaction); else that set wins.
      const kept = (await deps.store.update('tokens', (s) => (isTokenSet(s) && s.gen > stored.gen ? s : undefined))) as TokenSet | undefined
      if (kept) {
        deps.adopt(kept, true)
        return kept
      }
      deps.end('logout', stored.gen)
      throw new AuthError('login_required', 'Session ended at the provider; log in', {
        cause: error,
        error: error.error,
        error_description: error.error_description,
        status: error.status,
      })
    }
    let fresh: TokenSet
    try {
      const claims = await validatedClaims(provider, response, raw!, stored.user)
      fresh = toTokenSet(response, claims, Date.now(), deps.skew, stored)
    } catch (err) {
      // A 200 we refuse (an ID token that fails its checks, a Bearer downgrade under DPoP): the refresh
      // token is spent, so it is dropped too. A JWKS that cannot be fetched now (network) is not a
      // refusal: the set stays, and a provider that does not rotate refresh tokens lets it recover.
      const error = toAuthError(err, 'Refresh')
      if (error.code !== 'invalid_response') throw error
      return abandon(error)
    }
    const next = await storeTokens(deps.store, await deps.enrich(fresh, stored))
    const ours = next.accessToken === response.access_token
    if (ours) deps.tabs.announce({ type: 'tokens', tokens: next })
    deps.adopt(next, !ours)
    return next
  }

  return (stale) =>
    (flight ??= deps.tabs
      .withLock(() => underLock(stale))
      .catch((err: unknown) => {
        // While another tab is stuck with the lock, a token that still works is better than an error.
        const current = deps.current()
        if (err instanceof AuthError && (err.code === 'lock_timeout' || err.code === 'lock_lost') && current?.accessToken !== stale && isUsable(current, Date.now())) return current
        throw err
      })
      .finally(() => (flight = undefined)))
}

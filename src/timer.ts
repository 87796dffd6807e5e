import { isFresh, type TokenSet } from './tokens.js'

/** The longest a timer may be set for (setTimeout's limit); a longer wait is set again when it fires. */
const MAX_TIMER = 2 ** 31 - 1
/** The shortest refresh wait: a provider issuing near-zero lifetimes must not cause a refresh loop. */
const MIN_REFRESH = 5000

/** True when the session is over: the access token expired and there is no refresh token to renew it. */
export const isOver = (tokens: TokenSet, now: number) => !tokens.refreshToken && now >= tokens.expiresAt

/**
 * One timer per tab for the session it holds: at `refreshAt` when there is a refresh token (a refresh
 * is due), else at `expiresAt` (the session ends). It is one trigger among several: background tabs
 * throttle timers, so `visibilitychange`, `online` and every `getAccessToken` check too.
 */
export function createSessionTimer(onDue: () => void, onExpired: () => void) {
  let timer: ReturnType<typeof setTimeout> | undefined
  function schedule(tokens: TokenSet | undefined) {
    clearTimeout(timer)
    timer = undefined
    if (!tokens) return
    const renew = !!tokens.refreshToken
    const at = renew ? tokens.refreshAt : tokens.expiresAt
    const wait = Math.min(Math.max(at - Date.now(), renew ? MIN_REFRESH : 0), MAX_TIMER)
    // A timer that fires early (capped wait, a clock that moved) is set again.
    timer = setTimeout(() => (renew ? isFresh(tokens, Date.now()) : Date.now() < at) ? schedule(tokens) : renew ? onDue() : onExpired(), wait)
  }
  return { schedule, clear: () => schedule(undefined) }
}

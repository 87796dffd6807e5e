import type { AuthError } from './errors.js'
import { userOf, type TokenSet, type User } from './tokens.js'

/**
 * Where the session stands. `loading` until this tab has read the store (see {@link Auth.ready}).
 * {@link Auth.getState} returns the same frozen object until something changes, so it can be
 * used as a snapshot (`Object.is`) by React's `useSyncExternalStore` and similar stores.
 *
 * @example
 * ```ts
 * import type { AuthState } from 'oauth-tabs'
 *
 * const state: AuthState = await auth.ready()
 * if (state.status === 'authenticated') console.log(state.user?.name, new Date(state.expiresAt!))
 * ```
 */
export interface AuthState {
  /** `loading` until the stored session is read; then whether there is a usable session. */
  readonly status: 'loading' | 'authenticated' | 'unauthenticated'
  /** The user's claims (`sub`, `name`, ...): the ID token's, plus UserInfo's with `userInfo: true`. */
  readonly user?: User
  /** When the current access token expires (epoch ms, this browser's clock). */
  readonly expiresAt?: number
}

/**
 * What happened, passed to {@link Auth.subscribe} listeners with the new state.
 * - `ready`: once per tab, when the stored session has been read.
 * - `login`, `refresh`, `logout`: in every tab of the origin; `fromOtherTab` says whether this tab
 *   did it or heard it from another tab.
 * - `expired`: the access token expired and there is no (usable) refresh token: the session is over.
 * - `warning`: a degraded but working setup (no IndexedDB, no revocation endpoint).
 * - `error`: a background refresh failed (`error` says why; the session may still be usable).
 *
 * @example
 * ```ts
 * auth.subscribe((_, event) => {
 *   if (event.type === 'refresh') console.log(event.fromOtherTab ? 'adopted from another tab' : 'this tab refreshed')
 * })
 * ```
 */
export interface AuthEvent {
  /** What happened (see above). */
  readonly type: 'ready' | 'login' | 'refresh' | 'logout' | 'expired' | 'warning' | 'error'
  /** True when another tab logged in, refreshed, logged out or saw the session expire, and this tab adopted it. */
  readonly fromOtherTab?: boolean
  /** For `warning` and `error`: what went wrong, for a log or the user. Never a token. */
  readonly message?: string
  /** For `error`: the failure, with its stable `code` and the provider's `error`. */
  readonly error?: AuthError
}

/**
 * A subscriber; see {@link Auth.subscribe}.
 * @example
 * ```ts
 * import type { AuthListener } from 'oauth-tabs'
 *
 * const listener: AuthListener = (state, event) => {
 *   if (event.type === 'expired') showBanner('Your session ended; please log in again')
 *   render(state)
 * }
 * auth.subscribe(listener)
 * ```
 */
export type AuthListener = (state: AuthState, event: AuthEvent) => void

/** What the session holder does: one snapshot, replaced only on change, and the listeners. Internal. */
export interface SessionState {
  /** The token set this tab holds. */
  readonly tokens: TokenSet | undefined
  /** The current snapshot (the same object until the next change). */
  get(): AuthState
  /** Replaces tokens and status; returns true when the snapshot changed. */
  set(tokens: TokenSet | undefined): boolean
  emit(event: AuthEvent): void
  subscribe(listener: AuthListener): () => void
  clear(): void
}

const LOADING: AuthState = Object.freeze({ status: 'loading' })

/** Creates the holder of this tab's session state and its listeners. */
export function createSessionState(): SessionState {
  const listeners = new Set<AuthListener>()
  let tokens: TokenSet | undefined
  let snapshot = LOADING

  return {
    get tokens() {
      return tokens
    },
    get: () => snapshot,
    set(next) {
      const sameUser = next?.user === tokens?.user && next?.userInfo === tokens?.userInfo
      tokens = next
      const status = next ? 'authenticated' : 'unauthenticated'
      if (snapshot.status === status && sameUser && snapshot.expiresAt === next?.expiresAt) return false
      const user = sameUser ? snapshot.user : userOf(next)
      snapshot = Object.freeze(next ? { status, user, expiresAt: next.expiresAt } : { status })
      return true
    },
    emit(event) {
      const state = snapshot
      for (const listener of [...listeners]) {
        try {
          listener(state, event)
        } catch (err) {
          // One throwing listener must not starve the others; the error is still reported.
          queueMicrotask(() => {
            throw err
          })
        }
      }
    },
    subscribe(listener) {
      listeners.add(listener)
      return () => void listeners.delete(listener)
    },
    clear: () => listeners.clear(),
  }
}

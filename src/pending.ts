import { AuthError } from './errors.js'
import type { Store } from './store.js'

/**
 * Where a login attempt waits for its callback. With IndexedDB it is the store, shared by tabs
 * (a popup or another tab can finish it). In memory mode, or once IndexedDB has failed, memory
 * does not survive the redirect, so the attempt (state, PKCE verifier, nonce, returnTo, appState;
 * never a token) is kept in this tab's `sessionStorage`, which does. Taken once either way.
 */
export interface PendingLogins {
  put(state: string, pending: object): Promise<void>
  /** Removes and returns the attempt recorded for `state`, wherever it was kept. */
  take(state: string): Promise<unknown>
}

/** Creates the pending-login records of client `name`. */
export function createPendingLogins(name: string, store: Store): PendingLogins {
  const key = (state: string) => `oauth-tabs:${name}:pending:${state}`
  const session = (): Storage | undefined => {
    try {
      return globalThis.sessionStorage
    } catch {
      return undefined // blocked by the browser's settings
    }
  }
  return {
    async put(state, pending) {
      if (store.persistent) await store.update(`pending:${state}`, () => pending)
      if (store.persistent) return
      let text: string
      try {
        text = JSON.stringify(pending)
      } catch {
        throw new AuthError('config', "appState must be JSON-serialisable in storage: 'memory' mode (it is kept in sessionStorage)")
      }
      session()?.setItem(key(state), text)
    },
    async take(state) {
      const stored = await store.take(`pending:${state}`)
      let kept: string | null | undefined
      try {
        kept = session()?.getItem(key(state))
        session()?.removeItem(key(state))
      } catch {
        /* sessionStorage unusable: nothing kept there */
      }
      if (stored !== undefined) return stored
      try {
        return kept ? (JSON.parse(kept) as unknown) : undefined
      } catch {
        return undefined
      }
    },
  }
}

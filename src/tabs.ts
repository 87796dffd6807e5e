import { BroadcastChannel, createLeaderElection } from 'broadcast-channel'
import { AuthError } from './errors.js'
import type { TokenSet } from './tokens.js'

/** What tabs tell each other. Tokens travel only inside the origin (BroadcastChannel is same-origin). */
export type TabMessage =
  | { type: 'tokens'; tokens: TokenSet; login?: boolean }
  | { type: 'logout'; gen: number; expired?: boolean }
  /** A popup login ended (its `state`); the tab that opened the popup settles `login({ popup: true })`. */
  | { type: 'popup'; state: string; error?: { code: string; message: string } }

/** Cross-tab coordination for one client `name`. */
export interface Tabs {
  /**
   * Runs `fn` while holding the origin-wide lock for this client: the Web Locks API
   * where the browser has it, else broadcast-channel's leader election. Throws
   * `AuthError('lock_timeout')` when the lock is not had within `timeout` ms.
   */
  withLock<T>(fn: () => Promise<T>): Promise<T>
  /** Sends a message to this client's other tabs (not to this one). */
  announce(message: TabMessage): void
  /** Stops listening and releases the channel. */
  close(): void
}

/** A lock that other tabs have kept this long is taken over: its holder is frozen or asleep. */
export const STEAL_AFTER = 120_000

/**
 * Creates the tab coordination for client `name`; `onMessage` receives the other tabs' messages.
 * Opens its channel now, so call it from `createAuth`, never at import.
 */
export function createTabs(name: string, timeout: number, onMessage: (message: TabMessage) => void): Tabs {
  const prefix = `oauth-tabs:${name}`
  const channel = new BroadcastChannel<TabMessage>(prefix)
  channel.onmessage = onMessage
  // Since when this tab has been unable to get the lock; reset whenever it gets it.
  let blockedSince: number | undefined

  const timedOut = () =>
    new AuthError('lock_timeout', 'Another tab holds the token lock; try again')

  async function withWebLock<T>(locks: LockManager, fn: () => Promise<T>): Promise<T> {
    const run = () => {
      blockedSince = undefined
      return fn()
    }
    const start = Date.now()
    blockedSince ??= start
    try {
      return await locks.request(`${prefix}:lock`, { signal: AbortSignal.timeout(timeout) }, run)
    } catch (err) {
      if ((err as Error)?.name !== 'TimeoutError' && (err as Error)?.name !== 'AbortError') throw err
      // Held across STEAL_AFTER of our attempts: the holder cannot be running (its own token
      // request times out well before). Take the lock; generation numbers stop a late write.
      if (Date.now() - blockedSince >= STEAL_AFTER) return locks.request(`${prefix}:lock`, { steal: true }, run)
      throw timedOut()
    }
  }

  async function withElection<T>(fn: () => Promise<T>): Promise<T> {
    // One election per acquisition: the leader is the lock holder; die() releases it.
    const lockChannel = new BroadcastChannel(`${prefix}:lock`)
    const elector = createLeaderElection(lockChannel)
    let timer: ReturnType<typeof setTimeout> | undefined
    try {
      await Promise.race([
        elector.awaitLeadership(),
        new Promise((_, reject) => (timer = setTimeout(() => reject(timedOut()), timeout))),
      ])
      return await fn()
    } finally {
      clearTimeout(timer)
      await elector.die()
      await lockChannel.close()
    }
  }

  return {
    withLock(fn) {
      const locks = navigator.locks
      return typeof locks?.request === 'function' ? withWebLock(locks, fn) : withElection(fn)
    },
    announce(message) {
      void channel.postMessage(message).catch(() => {})
    },
    close() {
      channel.onmessage = null
      void channel.close()
    },
  }
}

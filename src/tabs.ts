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
   * where the browser has it, else broadcast-channel's leader election (loaded only then).
   * Throws `AuthError('lock_timeout')` when the lock is not had within `timeout` ms, and
   * `AuthError('lock_lost')` when another tab took it over while `fn` was running.
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
 * Opens its channel now, so call it from `createAuth`, never at import. Messages use the native
 * BroadcastChannel; broadcast-channel (see `tabs-fallback.ts`) is fetched only by a browser that
 * lacks it or the Web Locks API.
 */
export function createTabs(name: string, timeout: number, onMessage: (message: TabMessage) => void): Tabs {
  const prefix = `oauth-tabs:${name}`
  const lock = `${prefix}:lock`
  let closed = false
  const native = typeof BroadcastChannel == 'function' ? new BroadcastChannel(prefix) : undefined
  if (native) native.onmessage = (event: MessageEvent<TabMessage>) => onMessage(event.data)
  // Without a native channel, messages go through the fallback's, opened now so this tab hears
  // the others; what is announced before it is open waits in its queue.
  const fallback = native ? undefined : import('./tabs-fallback.js').then((m) => m.openChannel(prefix, (message: TabMessage) => closed || onMessage(message)))
  // Since when this tab has been unable to get the lock; reset whenever it gets it.
  let blockedSince: number | undefined

  const timedOut = () => new AuthError('lock_timeout', 'Another tab holds the token lock; try again')

  async function withWebLock<T>(locks: LockManager, fn: () => Promise<T>): Promise<T> {
    // 1: fn runs under the lock; 2: fn failed (its own error, passed on as is).
    let stage = 0
    const run = () => {
      blockedSince = undefined
      stage = 1
      return fn().catch((err: unknown) => {
        stage = 2
        throw err
      })
    }
    // Granted, then rejected while fn still ran: another tab stole the lock (Web Locks: AbortError).
    const settle = (err: unknown): never => {
      throw stage == 1 ? new AuthError('lock_lost', 'Another tab took over the token lock (this tab was frozen or asleep); try again', { cause: err }) : err
    }
    blockedSince ??= Date.now()
    try {
      return await locks.request(lock, { signal: AbortSignal.timeout(timeout) }, run)
    } catch (err) {
      if (stage || !['TimeoutError', 'AbortError'].includes((err as Error)?.name)) settle(err)
      // Held across STEAL_AFTER of our attempts: the holder cannot be running (its own token
      // request times out well before). Take the lock; generation numbers stop a late write.
      if (Date.now() - blockedSince! >= STEAL_AFTER) return await locks.request(lock, { steal: true }, run).catch(settle)
      throw timedOut()
    }
  }

  return {
    withLock(fn) {
      const locks = globalThis.navigator?.locks
      return typeof locks?.request == 'function'
        ? withWebLock(locks, fn)
        : import('./tabs-fallback.js').then((m) => m.withElection(lock, timeout, fn, timedOut))
    },
    announce(message) {
      if (closed) return
      if (native) native.postMessage(message)
      // In order, once the fallback is open; lost only if its chunk cannot load.
      else fallback!.then((channel) => channel.post(message)).catch(() => {})
    },
    close() {
      if (closed) return
      closed = true
      if (native) {
        native.onmessage = null
        native.close()
      } else fallback!.then((channel) => channel.close()).catch(() => {})
    },
  }
}

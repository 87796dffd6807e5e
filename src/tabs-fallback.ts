// Loaded with import() only by a browser without the Web Locks API or without a native
// BroadcastChannel (an insecure context such as a LAN IP over http, an older engine), so that
// broadcast-channel costs nothing where neither is missing.
import { BroadcastChannel, createLeaderElection, type BroadcastChannelOptions } from 'broadcast-channel'

/**
 * broadcast-channel's transport, chosen here and never by the library: the native channel where
 * there is one, else IndexedDB (where the tokens already live). Never its `localstorage` method,
 * which would write token sets to localStorage; with neither, tabs cannot talk (and the store
 * is this tab's memory anyway): `undefined`.
 */
export function transport(): BroadcastChannelOptions | undefined {
  if (typeof globalThis.BroadcastChannel == 'function') return { type: 'native' }
  if (typeof indexedDB != 'undefined') return { type: 'idb' }
  return undefined
}

/** A message channel for browsers without a native BroadcastChannel. */
export interface FallbackChannel<T> {
  post(message: T): void
  close(): void
}

/** Opens the channel `name` over {@link transport}; `onMessage` gets the other tabs' messages. */
export function openChannel<T>(name: string, onMessage: (message: T) => void): FallbackChannel<T> {
  const options = transport()
  if (!options) return { post() {}, close() {} }
  const channel = new BroadcastChannel<T>(name, options)
  channel.onmessage = onMessage
  return {
    post: (message) => void channel.postMessage(message).catch(() => {}),
    close: () => void channel.close(),
  }
}

// Without any channel, the lock can only order this tab's own calls.
const local = new Map<string, Promise<unknown>>()

/**
 * Runs `fn` as the leader of a one-off election on `name` (the leader is the lock holder;
 * `die()` releases it). Rejects with `timedOut()` when not elected within `timeout` ms.
 */
export async function withElection<T>(name: string, timeout: number, fn: () => Promise<T>, timedOut: () => Error): Promise<T> {
  const options = transport()
  if (!options) {
    const run = (local.get(name) ?? Promise.resolve()).catch(() => {}).then(fn)
    local.set(name, run)
    return run
  }
  const channel = new BroadcastChannel(name, options)
  const elector = createLeaderElection(channel)
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    await Promise.race([elector.awaitLeadership(), new Promise((_, reject) => (timer = setTimeout(() => reject(timedOut()), timeout)))])
    return await fn()
  } finally {
    clearTimeout(timer)
    await elector.die()
    await channel.close()
  }
}

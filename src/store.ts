import { createStore, get, promisifyRequest, type UseStore } from 'idb-keyval'

/**
 * Key-value storage for one client `name`: IndexedDB (shared by the origin's tabs)
 * through idb-keyval, or memory. If IndexedDB fails (missing, blocked, private mode,
 * over quota) the store falls back to memory for the rest of the page's life and
 * reports it once through `onWarning`; it never throws for that reason.
 */
export interface Store {
  get(key: string): Promise<unknown>
  /**
   * Reads and writes `key` in one transaction, so tabs cannot interleave:
   * `fn` gets the stored value and returns the value to store (`undefined` deletes).
   * Resolves to the value stored afterwards.
   */
  update<T>(key: string, fn: (stored: unknown) => T | undefined): Promise<T | undefined>
  /** Removes `key` and resolves to what it held, atomically: a value is taken once. */
  take(key: string): Promise<unknown>
  /** False in memory mode, and once IndexedDB has failed: then nothing outlives this page. */
  readonly persistent: boolean
}

/** Creates the store for a client; IndexedDB is opened lazily, on first use. */
export function createKeyValueStore(name: string, kind: 'indexeddb' | 'memory', onWarning: (message: string) => void): Store {
  const memory = new Map<string, unknown>()
  let idb: UseStore | undefined

  const inMemory = <T>(key: string, fn: (stored: unknown) => T | undefined) => {
    const next = fn(memory.get(key))
    if (next === undefined) memory.delete(key)
    else memory.set(key, next)
    return next
  }
  // The read, fn and the write happen in one readwrite transaction (callbacks, not awaits,
  // so the transaction cannot auto-commit in between).
  const onIdb = <T>(key: string, fn: (stored: unknown) => T | undefined) =>
    idb!('readwrite', (os) =>
      new Promise<T | undefined>((resolve, reject) => {
        const request = os.get(key)
        request.onerror = () => reject(request.error)
        request.onsuccess = () => {
          try {
            const next = fn(request.result)
            if (next === undefined) os.delete(key)
            else os.put(next, key)
            promisifyRequest(os.transaction).then(() => resolve(next), reject)
          } catch (err) {
            // DataCloneError, or a quota error thrown by put: abort rather than leave the promise hanging.
            reject(err)
          }
        }
      }),
    )

  // Any IndexedDB failure switches this store to memory for good: flipping back and forth
  // could resurrect an older token set.
  const guarded = async <T>(viaIdb: () => Promise<T>, viaMemory: () => T): Promise<T> => {
    if (idb) {
      let timer: ReturnType<typeof setTimeout> | undefined
      try {
        // A blocked or wedged database must not hang the session: give up after 5 s.
        return await Promise.race([viaIdb(), new Promise<never>((_, reject) => (timer = setTimeout(reject, 5000, new DOMException('IndexedDB did not answer', 'TimeoutError'))))])
      } catch (err) {
        idb = undefined
        onWarning(`IndexedDB failed (${(err as Error)?.name}); tokens kept in this tab's memory`)
      } finally {
        clearTimeout(timer)
      }
    }
    return viaMemory()
  }

  // createStore never throws: it opens the database on first use, where `guarded` catches failures.
  if (kind === 'indexeddb') idb = createStore(`oauth-tabs:${name}`, 'kv')

  return {
    get persistent() {
      return !!idb
    },
    get: (key) => guarded(() => get(key, idb), () => memory.get(key)),
    update: (key, fn) => guarded(() => onIdb(key, fn), () => inMemory(key, fn)),
    async take(key) {
      let taken: unknown
      await this.update(key, (stored) => {
        taken = stored
        return undefined
      })
      return taken
    },
  }
}

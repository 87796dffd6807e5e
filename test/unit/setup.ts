import 'fake-indexeddb/auto'
import { enforceOptions } from 'broadcast-channel'
import { IDBFactory } from 'fake-indexeddb'
import { afterEach, beforeEach, vi } from 'vitest'

// Tabs in one process: broadcast-channel's in-process method delivers between instances.
enforceOptions({ type: 'simulate' })

beforeEach(() => {
  // Every test starts with an empty IndexedDB and the real location.
  globalThis.indexedDB = new IDBFactory()
})

afterEach(() => {
  vi.restoreAllMocks()
  vi.useRealTimers()
})

// happy-dom's URL inherits Node's static URL.parse, which returns a Node URL that fails
// `instanceof URL` in this realm (browsers return their own); oauth4webapi relies on it.
URL.parse = (url: string | URL, base?: string | URL) => {
  try {
    return new URL(url, base)
  } catch {
    return null
  }
}

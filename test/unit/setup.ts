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

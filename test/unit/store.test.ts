import { describe, expect, it, vi } from 'vitest'
import { createKeyValueStore } from '../../src/store.js'
import { fakeProvider, installFakeLocks, logIn, openTab } from './helpers.js'

describe('storage', () => {
  it('keeps tokens in IndexedDB, never in localStorage, sessionStorage or cookies', async () => {
    installFakeLocks()
    const op = fakeProvider()
    const auth = openTab(op)
    await logIn(auth, op)
    const token = await auth.getAccessToken()
    const everywhere = JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie
    expect(everywhere).not.toContain(token)
    expect(everywhere).not.toContain('rt-')
    const reopened = openTab(op)
    await expect(reopened.getAccessToken()).resolves.toBe(token)
  })

  it.each([
    ['cannot be opened', () => vi.spyOn(indexedDB, 'open').mockImplementation(() => { throw new DOMException('denied', 'SecurityError') }), 'SecurityError'],
    ['is over quota', () => vi.spyOn(IDBObjectStore.prototype, 'put').mockImplementation(() => { throw new DOMException('full', 'QuotaExceededError') }), 'QuotaExceededError'],
  ])('falls back to memory with one warning when IndexedDB %s; getAccessToken never throws for it', async (_, breakIt, name) => {
    installFakeLocks()
    breakIt()
    const op = fakeProvider()
    const auth = openTab(op)
    const warnings: string[] = []
    auth.subscribe((_, e) => e.type === 'warning' && warnings.push(e.message!))
    await logIn(auth, op)
    await expect(auth.getAccessToken()).resolves.toMatch(/^at-/)
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain(name)
    expect(warnings[0]).toContain('memory')
  })

  it('works without IndexedDB at all', async () => {
    installFakeLocks()
    const saved = globalThis.indexedDB
    // @ts-expect-error simulating a browser without IndexedDB
    delete globalThis.indexedDB
    try {
      const op = fakeProvider()
      const auth = openTab(op)
      await logIn(auth, op)
      await expect(auth.getAccessToken()).resolves.toMatch(/^at-/)
    } finally {
      globalThis.indexedDB = saved
    }
  })

  it('discards a corrupt or unknown-version record with a warning instead of throwing', async () => {
    installFakeLocks()
    const store = createKeyValueStore('test-corrupt', 'indexeddb', () => {})
    await store.update('tokens', () => ({ v: 99, accessToken: 'x' }))
    const op = fakeProvider()
    const auth = openTab(op, { name: 'test-corrupt' })
    const warnings: string[] = []
    auth.subscribe((_, e) => e.type === 'warning' && warnings.push(e.message!))
    await expect(auth.getAccessToken()).rejects.toMatchObject({ code: 'login_required' })
    expect(warnings.join()).toContain('discarded')
    expect(await store.get('tokens')).toBeUndefined()
  })

  it('takes a value exactly once, even when asked concurrently', async () => {
    const store = createKeyValueStore('test-take', 'indexeddb', () => {})
    await store.update('k', () => 'v')
    const results = await Promise.all([store.take('k'), store.take('k'), store.take('k')])
    expect(results.filter((r) => r === 'v')).toHaveLength(1)
  })

  it('memory storage shares nothing through IndexedDB', async () => {
    installFakeLocks()
    const op = fakeProvider()
    const auth = openTab(op, { storage: 'memory', name: 'mem' })
    await logIn(auth, op)
    const other = openTab(op, { storage: 'memory', name: 'mem' })
    await expect(other.getAccessToken()).rejects.toMatchObject({ code: 'login_required' })
  })
})

import { enforceOptions, OPEN_BROADCAST_CHANNELS } from 'broadcast-channel'
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { createTabs, type TabMessage } from '../../src/tabs.js'
import { fakeProvider, installFakeLocks, logIn, openTab, removeLocks, watchStorage, type FakeProvider } from './helpers.js'

// The lazy broadcast-channel fallback (src/tabs-fallback.ts) with broadcast-channel choosing its
// transport for real: setup.ts's test-only `simulate` method is switched off in this file.
const loads = vi.hoisted(() => vi.fn())
vi.mock('../../src/tabs-fallback.js', async (importOriginal) => {
  loads()
  return importOriginal()
})

beforeAll(() => {
  enforceOptions(null)
})
afterEach(() => {
  vi.unstubAllGlobals()
})


async function tabsSignedIn(n: number, op: FakeProvider) {
  const first = openTab(op)
  await logIn(first, op)
  const tabs = [first, ...Array.from({ length: n - 1 }, () => openTab(op))]
  await Promise.all(tabs.map((tab) => vi.waitFor(() => expect(tab.getState().status).toBe('authenticated'), 5000)))
  return tabs
}

/** Every tab asks `perTab` times at once for a token that has expired. */
async function storm(op: FakeProvider, n: number, perTab: number) {
  const tabs = await tabsSignedIn(n, op)
  const tokens = await Promise.all(tabs.flatMap((tab) => Array.from({ length: perTab }, () => tab.getAccessToken())))
  expect(new Set(tokens).size).toBe(1)
  expect(op.requests('/token', 'refresh_token')).toHaveLength(1)
  expect(op.revoked).toBe(false)
  return tabs
}

describe('where Web Locks and a native BroadcastChannel exist', () => {
  // First in this file: the module is loaded by later tests, and loads once.
  it('never loads the fallback module (nor broadcast-channel) through login, refresh and logout', async () => {
    installFakeLocks()
    const op = fakeProvider({ expiresIn: 0 })
    const [a, b] = await tabsSignedIn(2, op)
    await a.getAccessToken()
    await a.logout()
    await vi.waitFor(() => expect(b.getState().status).toBe('unauthenticated'))
    expect(loads).not.toHaveBeenCalled()
  })
})

describe('the fallback (no Web Locks): tokens never reach localStorage or cookies', () => {
  it('native BroadcastChannel, leader election over its native method: 10 tabs x 5 calls -> one refresh', async () => {
    removeLocks()
    const writes = watchStorage()
    const op = fakeProvider({ expiresIn: 0 })
    const tabs = await storm(op, 10, 5)
    await tabs[0].logout()
    expect(loads).toHaveBeenCalledTimes(1)
    expect(writes).toEqual([])
    expect(localStorage.length).toBe(0)
  }, 30_000)

  it('no native BroadcastChannel either: messages and election over IndexedDB -> one refresh, the others adopt it', async () => {
    removeLocks()
    vi.stubGlobal('BroadcastChannel', undefined)
    const writes = watchStorage()
    const op = fakeProvider({ expiresIn: 0 })
    const [a, b, c] = await storm(op, 3, 5)
    // A logout reaches the others through the IndexedDB channel.
    await a.logout()
    await vi.waitFor(() => expect([b.getState().status, c.getState().status]).toEqual(['unauthenticated', 'unauthenticated']), 5000)
    expect(writes).toEqual([])
    expect(localStorage.length).toBe(0)
  }, 30_000)

  it('neither a native BroadcastChannel nor IndexedDB (where broadcast-channel would pick localStorage): this tab alone, still one refresh at a time', async () => {
    removeLocks()
    vi.stubGlobal('BroadcastChannel', undefined)
    vi.stubGlobal('indexedDB', undefined)
    const writes = watchStorage()
    const op = fakeProvider({ expiresIn: 0 })
    const [tab] = await tabsSignedIn(1, op)
    const tokens = await Promise.all(Array.from({ length: 5 }, () => tab.getAccessToken()))
    expect(new Set(tokens).size).toBe(1)
    expect(op.requests('/token', 'refresh_token')).toHaveLength(1)
    // The lock still orders this tab's own critical sections.
    const order: string[] = []
    const tabs = createTabs('alone', 1000, () => {})
    await Promise.all([
      tabs.withLock(async () => {
        order.push('first in')
        await new Promise((r) => setTimeout(r, 20))
        order.push('first out')
      }),
      tabs.withLock(async () => void order.push('second')),
    ])
    tabs.close()
    expect(order).toEqual(['first in', 'first out', 'second'])
    await tab.logout()
    expect(tab.getState().status).toBe('unauthenticated')
    // Without IndexedDB only the pending login (state, verifier: never a token) goes to sessionStorage.
    expect(writes.filter((w) => !/^sessionStorage oauth-tabs:[\w.-]+:pending:/.test(w))).toEqual([])
    expect(writes.join('\n')).not.toMatch(/at-\d|rt-\d/)
    expect(localStorage.length).toBe(0)
  })
})

describe('the lazily opened channel', () => {
  const named = (name: string) => [...OPEN_BROADCAST_CHANNELS].filter((c) => c.name === name)

  it('delivers what was announced before it opened, in order, and closes even when close() came first', async () => {
    vi.stubGlobal('BroadcastChannel', undefined)
    const received: TabMessage[] = []
    const b = createTabs('queue', 1000, (m) => received.push(m))
    await vi.waitFor(() => expect(named('oauth-tabs:queue')).toHaveLength(1))
    // All synchronous: the fallback module has not even resolved for `a` yet.
    const a = createTabs('queue', 1000, () => {})
    a.announce({ type: 'logout', gen: 1 })
    a.announce({ type: 'logout', gen: 2 })
    a.close()
    await vi.waitFor(() => expect(received).toEqual([{ type: 'logout', gen: 1 }, { type: 'logout', gen: 2 }]), 5000)
    await vi.waitFor(() => expect(named('oauth-tabs:queue')).toHaveLength(1))
    b.close()
    await vi.waitFor(() => expect(named('oauth-tabs:queue')).toHaveLength(0))
  })
})

import { OPEN_BROADCAST_CHANNELS } from 'broadcast-channel'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { storeTokens } from '../../src/token-store.js'
import { createKeyValueStore } from '../../src/store.js'
import { createTabs, STEAL_AFTER } from '../../src/tabs.js'
import { toTokenSet } from '../../src/tokens.js'
import { fakeProvider, installFakeLocks, logIn, openTab, removeLocks, type FakeProvider } from './helpers.js'

async function tabsSignedIn(n: number, op: FakeProvider, options = {}) {
  const first = openTab(op, options)
  await logIn(first, op)
  const tabs = [first, ...Array.from({ length: n - 1 }, () => openTab(op, options))]
  await Promise.all(tabs.map((tab) => vi.waitFor(() => expect(tab.getState().status).toBe('authenticated'))))
  return tabs
}

describe('tabs with Web Locks', () => {
  beforeEach(() => {
    installFakeLocks()
  })

  it('gives other tabs the new tokens without a request of their own', async () => {
    const op = fakeProvider({ expiresIn: 0 })
    const [a, b, c] = await tabsSignedIn(3, op)
    const seen = vi.fn()
    b.subscribe(seen)
    const token = await a.getAccessToken()
    await vi.waitFor(() => expect(seen).toHaveBeenCalledWith(expect.objectContaining({ status: 'authenticated' }), { type: 'refresh', fromOtherTab: true }))
    // c missed nothing either, and b answers from memory until the set is due again.
    expect(await c.getAccessToken()).toBe(token)
    expect(op.requests('/token', 'refresh_token')).toHaveLength(1)
  })

  it('shows a login in one tab in the others, with the user', async () => {
    const op = fakeProvider()
    const a = openTab(op)
    const b = openTab(op)
    await vi.waitFor(() => expect(b.getState().status).toBe('unauthenticated'))
    const events: string[] = []
    b.subscribe((_, e) => events.push(e.type))
    await logIn(a, op)
    await vi.waitFor(() => expect(b.getState()).toMatchObject({ status: 'authenticated', user: { sub: 'ada' } }))
    expect(events).toContain('login')
  })

  it('shows a logout in one tab in all of them, revoking the refresh token once', async () => {
    const op = fakeProvider()
    const tabs = await tabsSignedIn(4, op)
    await tabs[0].logout()
    await Promise.all(tabs.map((tab) => vi.waitFor(() => expect(tab.getState().status).toBe('unauthenticated'))))
    expect(op.requests('/revoke')).toHaveLength(1)
    expect(op.requests('/revoke')[0].params.get('token_type_hint')).toBe('refresh_token')
    await expect(tabs[2].getAccessToken()).rejects.toMatchObject({ code: 'login_required' })
  })

  it('logs out locally even when the provider is unreachable (no revocation, no end-session redirect)', async () => {
    const op = fakeProvider()
    const [a] = await tabsSignedIn(1, op)
    // A fresh tab that must discover again (no cached metadata), with the network gone.
    const b = openTab(op, { discoveryTtl: 0, postLogoutRedirectUri: 'https://app.example/' })
    await vi.waitFor(() => expect(b.getState().status).toBe('authenticated'))
    const warnings: string[] = []
    b.subscribe((_, e) => e.type === 'warning' && warnings.push(e.message!))
    op.fetch.mockImplementation(() => Promise.reject(new TypeError('Failed to fetch')))
    const assign = vi.spyOn(window.location, 'assign').mockImplementation(() => {})
    await expect(b.logout()).resolves.toBeUndefined()
    expect(assign).not.toHaveBeenCalled()
    expect(warnings.join()).toContain('Revocation failed')
    await vi.waitFor(() => expect(a.getState().status).toBe('unauthenticated'))
  })

  it('adopts a newer set after invalid_grant when another tab had rotated the token', async () => {
    // A provider without reuse revocation, and a lock that excludes nobody (as if stolen):
    // the tab that loses the race gets invalid_grant and must adopt the winner's set.
    Object.defineProperty(navigator, 'locks', { value: { request: (_n: string, _o: unknown, cb: () => unknown) => Promise.resolve().then(cb) }, configurable: true })
    const op = fakeProvider({ expiresIn: 0, reuseRevokes: false })
    const [a, b] = await tabsSignedIn(2, op)
    const [ta, tb] = await Promise.all([a.getAccessToken(), b.getAccessToken()])
    expect(ta).toBe(tb)
    expect(op.requests('/token', 'refresh_token').length).toBe(2)
    expect(a.getState().status).toBe('authenticated')
    expect(b.getState().status).toBe('authenticated')
  })

  it('returns a still-valid token while the lock is stuck, then a typed lock_timeout, then takes the lock over', async () => {
    const { locks } = installFakeLocks()
    const op = fakeProvider({ expiresIn: 120 })
    const [tab] = await tabsSignedIn(1, op, { name: 'stuck', lockTimeout: 0.2, refreshSkew: 100 })
    const token = await tab.getAccessToken()
    // Another tab holds the lock and never lets go (frozen, asleep).
    void locks.request('oauth-tabs:stuck:lock', {}, () => new Promise(() => {}))
    const start = Date.now()
    const clock = vi.spyOn(Date, 'now')
    // Due (refreshAt is at 60 s) but not expired: the old token is the answer, not an error.
    clock.mockReturnValue(start + 61_000)
    await expect(tab.getAccessToken()).resolves.toBe(token)
    // The background refresh it started (its code is loaded on first use) now waits for the lock.
    await new Promise((resolve) => setTimeout(resolve, 50))
    // Expired, blocked for less than STEAL_AFTER: a typed error, not a DOMException.
    clock.mockReturnValue(start + 120_500)
    await expect(tab.getAccessToken()).rejects.toMatchObject({ name: 'AuthError', code: 'lock_timeout' })
    expect(op.requests('/token', 'refresh_token')).toHaveLength(0)
    // Blocked past STEAL_AFTER: the lock is taken over and the refresh goes out, once.
    clock.mockReturnValue(start + 61_000 + STEAL_AFTER + 1)
    await expect(tab.getAccessToken()).resolves.not.toBe(token)
    expect(op.requests('/token', 'refresh_token')).toHaveLength(1)
  })

  it('never lets a late writer put back an older token set (generation numbers)', async () => {
    const store = createKeyValueStore('gen-test', 'indexeddb', () => {})
    const base = { access_token: 'a', token_type: 'bearer' as const, expires_in: 60 }
    const first = await storeTokens(store, toTokenSet(base, undefined, 0, 0))
    const newer = await storeTokens(store, toTokenSet({ ...base, access_token: 'b' }, undefined, 0, 0, first))
    const late = await storeTokens(store, toTokenSet({ ...base, access_token: 'late' }, undefined, 0, 0, first))
    expect(late.accessToken).toBe('b')
    expect(await store.get('tokens')).toMatchObject({ accessToken: 'b', gen: newer.gen })
  })

  it('keeps clients with different names apart', async () => {
    const op = fakeProvider()
    const a = openTab(op, { name: 'app-a' })
    const b = openTab(op, { name: 'app-b' })
    await logIn(a, op)
    await vi.waitFor(() => expect(b.getState().status).toBe('unauthenticated'))
    await new Promise((r) => setTimeout(r, 50))
    expect(b.getState().status).toBe('unauthenticated')
    await expect(b.getAccessToken()).rejects.toMatchObject({ code: 'login_required' })
  })

  it('releases its channel, timers and listeners on close()', async () => {
    const op = fakeProvider()
    await tabsSignedIn(1, op)
    const channels = OPEN_BROADCAST_CHANNELS.size
    const timers = vi.spyOn(globalThis, 'setTimeout')
    const cleared = vi.spyOn(globalThis, 'clearTimeout')
    const listeners = vi.spyOn(document, 'addEventListener')
    const removed = vi.spyOn(document, 'removeEventListener')
    for (let i = 0; i < 50; i++) {
      const tab = openTab(op)
      await vi.waitFor(() => expect(tab.getState().status).toBe('authenticated'))
      tab.close()
    }
    expect(OPEN_BROADCAST_CHANNELS.size).toBe(channels)
    expect(removed.mock.calls.length).toBe(listeners.mock.calls.length)
    expect(cleared.mock.calls.length).toBeGreaterThanOrEqual(timers.mock.calls.filter(([, ms]) => (ms ?? 0) >= 5000).length)
  })
})

describe.each([
  ['with Web Locks', installFakeLocks],
  ['without Web Locks (broadcast-channel leader election)', removeLocks],
])('a refresh storm %s', (_, lockMode) => {
  beforeEach(() => {
    lockMode()
  })

  it('sends one refresh request when 10 tabs ask 20 times each at once', async () => {
    const op = fakeProvider({ expiresIn: 0 })
    const tabs = await tabsSignedIn(10, op)
    const tokens = await Promise.all(tabs.flatMap((tab) => Array.from({ length: 20 }, () => tab.getAccessToken())))
    expect(new Set(tokens).size).toBe(1)
    expect(op.requests('/token', 'refresh_token')).toHaveLength(1)
    expect(op.revoked).toBe(false)
  }, 20_000)
})

describe('a lock taken over while held (Web Locks steal)', () => {
  /** A lock manager whose one held lock the test can steal: the holder's request rejects with AbortError, as in browsers. */
  function stealableLocks() {
    let steal: (() => void) | undefined
    const locks = {
      request(_name: string, _options: LockOptions, callback: () => Promise<unknown>) {
        return new Promise((resolve, reject) => {
          steal = () => reject(new DOMException("Lock broken by another request with the 'steal' option.", 'AbortError'))
          callback().then(resolve, reject)
        })
      },
    }
    Object.defineProperty(navigator, 'locks', { value: locks, configurable: true })
    return { steal: () => steal!() }
  }

  it('reports lock_lost to the former holder, not lock_timeout', async () => {
    const { steal } = stealableLocks()
    const tabs = createTabs('stolen', 1000, () => {})
    let finish!: () => void
    const held = tabs.withLock(() => new Promise<void>((resolve) => (finish = resolve)))
    await vi.waitFor(() => expect(finish).toBeTypeOf('function'))
    steal()
    await expect(held).rejects.toMatchObject({ name: 'AuthError', code: 'lock_lost', message: expect.stringContaining('took over the token lock') })
    finish()
    tabs.close()
  })

  it("passes fn's own failure on unchanged, even an AbortError", async () => {
    stealableLocks()
    const tabs = createTabs('own-error', 1000, () => {})
    const own = new DOMException('aborted by the caller', 'AbortError')
    await expect(tabs.withLock(() => Promise.reject(own))).rejects.toBe(own)
    tabs.close()
  })
})

describe('the native BroadcastChannel', () => {
  it('carries the messages, one channel per client, and close() closes it (50 tabs opened and closed)', async () => {
    installFakeLocks()
    const Native = globalThis.BroadcastChannel
    const open = new Set<BroadcastChannel>()
    vi.stubGlobal(
      'BroadcastChannel',
      class extends Native {
        constructor(name: string) {
          super(name)
          open.add(this)
        }
        override close() {
          open.delete(this)
          super.close()
        }
      },
    )
    try {
      const op = fakeProvider()
      const [first] = await tabsSignedIn(1, op)
      expect([...open].map((c) => c.name)).toEqual([expect.stringMatching(/^oauth-tabs:test-\d+$/)])
      const baseline = open.size
      for (let i = 0; i < 50; i++) {
        const tab = openTab(op)
        await vi.waitFor(() => expect(tab.getState().status).toBe('authenticated'))
        tab.close()
      }
      expect(open.size).toBe(baseline)
      // And it is the channel the tabs talk over: a logout reaches a tab opened with it.
      const other = openTab(op)
      await vi.waitFor(() => expect(other.getState().status).toBe('authenticated'))
      await first.logout()
      await vi.waitFor(() => expect(other.getState().status).toBe('unauthenticated'))
    } finally {
      vi.unstubAllGlobals()
    }
  })
})

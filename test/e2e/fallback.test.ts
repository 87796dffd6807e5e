import { build } from 'esbuild'
import { basename } from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { openTab, signedInTabs, skipAhead, startStack, state, storm, until, type Stack } from './harness.js'

// Issues F and G in real Chromium: broadcast-channel is a lazy chunk that a browser with Web
// Locks and a native BroadcastChannel never requests; without them, the fallback still gives
// one refresh for ten tabs and never writes to localStorage; a stolen lock reports lock_lost.
// The page is bundled here with code splitting (harness.ts serves a single-file bundle).

interface PageBundle {
  files: Map<string, string>
  /** The path of the chunk that holds broadcast-channel. */
  fallback: string
}

async function splitPageBundle(): Promise<PageBundle> {
  const result = await build({
    entryPoints: { app: new URL('./fallback-page.ts', import.meta.url).pathname },
    bundle: true,
    splitting: true,
    format: 'esm',
    target: 'es2020',
    platform: 'browser',
    outdir: '/split',
    metafile: true,
    write: false,
    logLevel: 'silent',
    // The package's `sideEffects: false` covers test/e2e too; page.ts runs for its side effects.
    plugins: [{ name: 'page-runs', setup: (b) => b.onResolve({ filter: /^\.\/page\.js$/ }, () => ({ path: new URL('./page.ts', import.meta.url).pathname, sideEffects: true })) }],
  })
  const files = new Map(result.outputFiles.map((f) => [`/${basename(f.path)}`, f.text]))
  const chunk = Object.entries(result.metafile.outputs).find(([, o]) => Object.keys(o.inputs).some((i) => i.includes('node_modules/broadcast-channel/')))
  if (!chunk || basename(chunk[0]) === 'app.js') throw new Error('broadcast-channel is not in a chunk of its own')
  return { files, fallback: `/${basename(chunk[0])}` }
}


/** Hides the native BroadcastChannel from the page (kept aside for the test's own trigger) and records Web Storage writes. */
async function noNativeChannel(context: BrowserContext) {
  await context.addInitScript(() => {
    const w = window as any
    w.__nativeChannel = w.BroadcastChannel
    delete w.BroadcastChannel
  })
}

async function recordStorageWrites(context: BrowserContext) {
  await context.addInitScript(() => {
    const w = window as any
    w.__storageWrites = []
    const setItem = Storage.prototype.setItem
    Storage.prototype.setItem = function (this: Storage, key: string, value: string) {
      w.__storageWrites.push(`${this === localStorage ? 'localStorage' : 'sessionStorage'} ${key}`)
      return setItem.call(this, key, value)
    }
  })
}

/** Every write to localStorage, and whether localStorage or a cookie holds anything. */
const storageOf = (page: Page) =>
  page.evaluate(() => ({
    writes: ((window as any).__storageWrites as string[]).filter((w) => w.startsWith('localStorage')),
    localStorage: localStorage.length,
    cookie: document.cookie,
  }))

describe('the broadcast-channel fallback as a lazy chunk (real Chromium, code-split page)', () => {
  let stack: Stack
  let bundle: PageBundle
  let context: BrowserContext | undefined
  beforeAll(async () => {
    bundle = await splitPageBundle()
    stack = await startStack({
      accessTokenTtl: 30,
      routes: (req, res) => {
        const path = new URL(req.url ?? '/', 'http://x').pathname
        const file = bundle.files.get(path)
        if (!file) return false
        res.setHeader('content-type', 'text/javascript')
        res.end(file)
        return true
      },
    })
  })
  afterEach(async () => {
    await context?.close()
    context = undefined
    stack.op.setTokenDelay(0)
  })
  afterAll(async () => {
    await stack?.stop()
  })

  const fallbackRequests = () => stack.appRequests.filter((p) => p === bundle.fallback).length

  it('with Web Locks and a native BroadcastChannel, login, refresh and logout in 3 tabs never request the fallback chunk', async () => {
    context = await stack.newContext()
    const before = stack.appRequests.length
    const tabs = await signedInTabs(context, stack, 3)
    stack.op.resetStats()
    for (const tab of tabs) await skipAhead(tab, 31_000)
    expect(await Promise.all(tabs.map((tab) => tab.evaluate(() => (window as any).callApi())))).toEqual([200, 200, 200])
    expect(stack.op.stats.grants.refresh_token).toBe(1)
    await tabs[0].evaluate(() => (window as any).auth.logout())
    await until(async () => (await Promise.all(tabs.map(state))).every((s) => s.status === 'unauthenticated'), 2000, 'all signed out')
    // The page did load, from the split bundle.
    expect(stack.appRequests.slice(before)).toContain('/app.js')
    expect(fallbackRequests()).toBe(0)
  })

  for (const nativeChannel of [true, false]) {
    it(`without Web Locks${nativeChannel ? '' : ' and without a native BroadcastChannel'}: 10 tabs x 20 calls on an expired token -> exactly 1 refresh grant, nothing in localStorage`, async () => {
      context = await stack.newContext({ noLocks: true })
      if (!nativeChannel) await noNativeChannel(context)
      await recordStorageWrites(context)
      const requested = fallbackRequests()
      const tabs = await signedInTabs(context, stack, 10)
      expect(await tabs[0].evaluate(() => [typeof navigator.locks, typeof BroadcastChannel])).toEqual(['undefined', nativeChannel ? 'function' : 'undefined'])
      stack.op.resetStats()
      stack.op.setTokenDelay(100)
      for (const tab of tabs) await skipAhead(tab, 31_000)
      const results = await storm(tabs, 20)
      expect(results).toHaveLength(200)
      expect(results.every((r) => r === 200)).toBe(true)
      expect(stack.op.stats.grants.refresh_token).toBe(1)
      expect(stack.op.stats.grantErrors).toEqual([])
      expect(stack.op.stats.revokedGrants).toBe(0)
      const states = await Promise.all(tabs.map(state))
      expect(new Set(states.map((s) => s.expiresAt)).size).toBe(1)
      for (const tab of tabs) expect(await storageOf(tab)).toEqual({ writes: [], localStorage: 0, cookie: '' })
      expect(fallbackRequests()).toBeGreaterThan(requested)
    })
  }

  it('a tab whose Web Lock another tab steals gets lock_lost, not lock_timeout', async () => {
    context = await stack.newContext()
    const [holder, thief] = [await openTab(context, stack), await openTab(context, stack)]
    await holder.evaluate(() => {
      const tabs = (window as any).createTabs('steal', 5000, () => {})
      ;(window as any).outcome = tabs.withLock(() => new Promise((r) => setTimeout(r, 2000, 'done'))).then(
        (v: string) => v,
        (e: { code?: string; message?: string }) => `${e.code}: ${e.message}`,
      )
    })
    await until(() => holder.evaluate(async () => (await navigator.locks.query()).held?.some((l) => l.name === 'oauth-tabs:steal:lock') ?? false), 2000, 'the lock held')
    await thief.evaluate(() => navigator.locks.request('oauth-tabs:steal:lock', { steal: true }, async () => {}))
    expect(await holder.evaluate(() => (window as any).outcome)).toMatch(/^lock_lost: Another tab took over the token lock/)
  })
})

import type { BrowserContext, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { callApi, events, login, openTab, signInAtProvider, startStack, state, storedTokens, until, type Stack, type StackOptions } from './harness.js'

// Issue E end to end: the session as apps use it, in real Chromium against the real oidc-provider,
// with the built package: expiry without a refresh token, popup login, memory storage and the
// IndexedDB fallback, appState across the redirect, and a login() that never settles as it leaves.

type Outcome = { state?: { status: string; user?: Record<string, unknown> }; error?: { code?: string; message: string } }
const popupOutcome = (page: Page) => page.evaluate(() => (window as any).popupOutcome) as Promise<Outcome | undefined>
const ready = (page: Page) => page.evaluate(() => (window as any).ready) as Promise<string>
const callbackError = (page: Page) => page.evaluate(() => (window as any).callbackError) as Promise<{ code: string; message: string } | undefined>

/** A page of the app's origin without the app: to look into storage without a client reading it. */
const blankRoute: StackOptions['routes'] = (req, res) => {
  if (req.url !== '/blank') return false
  res.setHeader('content-type', 'text/html')
  res.end('<!doctype html><title>blank</title>')
  return true
}

/** Waits until `page` is back on the app after the provider, and has read its session. */
async function backOnApp(page: Page, stack: Stack): Promise<string> {
  await page.waitForURL((url) => url.href.startsWith(stack.appOrigin), { timeout: 15_000 })
  return ready(page)
}

describe('a session without a refresh token (scope openid) ends at expiresAt in every tab', () => {
  const TTL = 10
  let stack: Stack
  let context: BrowserContext | undefined
  beforeAll(async () => {
    stack = await startStack({ accessTokenTtl: TTL, page: { scope: 'openid' }, routes: blankRoute })
  })
  afterEach(async () => {
    await context?.close()
    context = undefined
  })
  afterAll(async () => {
    await stack?.stop()
  })

  it('3 tabs: each moves to unauthenticated with one expired event at expiresAt, sends no token request, and a reload starts signed out', async () => {
    context = await stack.newContext()
    const tabs = [await openTab(context, stack)]
    await login(tabs[0], stack)
    tabs.push(await openTab(context, stack), await openTab(context, stack))
    const before = await Promise.all(tabs.map(state))
    expect(before.map((s) => s.status)).toEqual(['authenticated', 'authenticated', 'authenticated'])
    expect(new Set(before.map((s) => s.expiresAt)).size).toBe(1)
    expect((await storedTokens(tabs[0])).refreshToken).toBeUndefined()
    expect(await callApi(tabs[1])).toBe(200)
    stack.op.resetStats()

    // Nothing touches the tabs: their own timers end the session.
    await until(async () => (await Promise.all(tabs.map(state))).every((s) => s.status === 'unauthenticated'), (TTL + 10) * 1000, 'every tab signed out at expiry')
    for (const tab of tabs) {
      const seen = await events(tab)
      const expired = seen.filter((e) => e.type === 'expired')
      expect(expired).toHaveLength(1)
      expect(expired[0]).toMatchObject({ status: 'unauthenticated', fromOtherTab: expect.any(Boolean) })
      // Not before the token's expiry (the page's own clock).
      expect(expired[0].at).toBeGreaterThanOrEqual(before[0].expiresAt!)
      expect(seen.at(-1)!.type).toBe('expired')
    }
    expect(await callApi(tabs[2])).toBe('login_required')
    expect(await tabs[0].evaluate(() => (window as any).auth.getAccessToken().catch((e: any) => e.code))).toBe('login_required')
    // Nothing to renew with, so nothing asked: no token request from any tab.
    expect(stack.op.stats.requests['/token'] ?? 0).toBe(0)
    expect(await storedTokens(tabs[0])).toBeUndefined()

    await tabs[1].reload()
    expect(await ready(tabs[1])).toBe('unauthenticated')
    expect((await events(tabs[1])).map((e) => `${e.type}:${e.status}`)).toEqual(['ready:unauthenticated'])
    expect(stack.op.stats.requests['/token'] ?? 0).toBe(0)
  })

  it('no tab open at expiry: the next page load finds the expired set and starts unauthenticated', async () => {
    context = await stack.newContext()
    const first = await openTab(context, stack)
    await login(first, stack)
    const { expiresAt } = await state(first)
    await first.close()
    const peek = await context.newPage()
    await peek.goto(`${stack.appOrigin}/blank`)
    expect(await storedTokens(peek)).toMatchObject({ expiresAt, refreshToken: undefined })

    // Control: before the expiry a new tab starts signed in from the store.
    const control = await openTab(context, stack)
    expect(await ready(control)).toBe('authenticated')
    await control.close()

    // Later (every new page's clock is past the expiry; the store still holds the set).
    await context.addInitScript((ms) => ((window as any).__offset = ms), expiresAt! - Date.now() + 1000)
    stack.op.resetStats()
    const later = await openTab(context, stack)
    expect(await ready(later)).toBe('unauthenticated')
    expect((await events(later)).map((e) => `${e.type}:${e.status}`)).toEqual(['ready:unauthenticated'])
    expect(await callApi(later)).toBe('login_required')
    expect(await storedTokens(peek)).toBeUndefined()
    expect(stack.op.stats.requests['/token'] ?? 0).toBe(0)
  })
})

/** Counts the page's setInterval timers (active ids, and how often each has fired). */
function countIntervals() {
  const active = new Set<number>()
  const ticks: Record<number, number> = {}
  const set = window.setInterval.bind(window)
  const clear = window.clearInterval.bind(window)
  ;(window as any).setInterval = (fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const id: number = set(() => {
      ticks[id] = (ticks[id] ?? 0) + 1
      fn(...args)
    }, ms)
    active.add(id)
    return id
  }
  ;(window as any).clearInterval = (id: number) => {
    active.delete(id)
    clear(id)
  }
  ;(window as any).intervals = () => ({ active: [...active], ticks: { ...ticks } })
}
type Intervals = { active: number[]; ticks: Record<number, number> }
const intervals = (page: Page) => page.evaluate(() => (window as any).intervals()) as Promise<Intervals>

describe('popup login (Chromium with its popup blocker on)', () => {
  let stack: Stack
  let context: BrowserContext | undefined
  beforeAll(async () => {
    stack = await startStack({ popupBlocker: true })
  })
  afterEach(async () => {
    await context?.close()
    context = undefined
  })
  afterAll(async () => {
    await stack?.stop()
  })

  it('a click logs in in a popup: the opener is signed in without navigating, a second tab hears it, the popup closes', async () => {
    context = await stack.newContext()
    const opener = await openTab(context, stack, '/inbox?folder=2')
    const other = await openTab(context, stack)
    await opener.evaluate(() => ((window as any).marker = 'this page never unloaded'))
    let navigations = 0
    opener.on('framenavigated', (frame) => {
      if (frame === opener.mainFrame()) navigations += 1
    })
    stack.op.resetStats()

    // A real click: the browser's user gesture lets the popup open.
    const [popup] = await Promise.all([opener.waitForEvent('popup'), opener.click('#popup-login')])
    await signInAtProvider(popup, stack, 'ada')
    await until(async () => (await popupOutcome(opener)) !== undefined, 15_000, 'the popup login to settle')

    const outcome = await popupOutcome(opener)
    expect(outcome?.error).toBeUndefined()
    expect(outcome?.state).toMatchObject({ status: 'authenticated', user: { sub: 'ada' } })
    expect(await state(opener)).toEqual(outcome?.state)
    await until(() => popup.isClosed(), 5000, 'the popup closed')
    expect(navigations).toBe(0)
    expect(await opener.evaluate(() => (window as any).marker)).toBe('this page never unloaded')
    expect(new URL(opener.url()).pathname + new URL(opener.url()).search).toBe('/inbox?folder=2')

    // The popup finished the login as another tab of the origin: both tabs adopted it from there.
    for (const tab of [opener, other]) {
      await until(async () => (await state(tab)).status === 'authenticated', 2000, 'signed in')
      expect((await events(tab)).filter((e) => e.type === 'login')).toEqual([expect.objectContaining({ status: 'authenticated', fromOtherTab: true })])
    }
    expect(await callApi(opener)).toBe(200)
    expect(await callApi(other)).toBe(200)
    expect(stack.op.stats.grants.authorization_code).toBe(1)
    expect(context.pages()).toHaveLength(2)
  })

  it('a popup blocked by the browser (no user gesture): popup_blocked at once, no window, no request', async () => {
    context = await stack.newContext()
    stack.op.resetStats()
    // `?popup-now` calls login({ popup: true }) while the page loads, outside any click.
    const page = await openTab(context, stack, '/?popup-now')
    await until(async () => (await popupOutcome(page)) !== undefined, 5000, 'the popup login to settle')
    expect((await popupOutcome(page))?.error?.code).toBe('popup_blocked')
    // Settled before the next task: nothing was awaited (no discovery, no timer).
    expect(await page.evaluate(() => (window as any).popupSettledAtOnce)).toBe(true)
    expect(context.pages()).toHaveLength(1)
    expect(stack.op.stats.requests).toEqual({})
    expect((await state(page)).status).toBe('unauthenticated')

    // Control: the same browser opens the popup from a click.
    const [popup] = await Promise.all([page.waitForEvent('popup'), page.click('#popup-login')])
    expect(popup.isClosed()).toBe(false)
  })

  it('the user closes the popup: popup_closed within one poll, and no timer left behind', async () => {
    context = await stack.newContext()
    await context.addInitScript(countIntervals)
    const page = await openTab(context, stack)
    const before = await intervals(page)

    const [popup] = await Promise.all([page.waitForEvent('popup'), page.click('#popup-login')])
    // The user sees the provider's login form, then closes the window.
    await popup.waitForURL((url) => url.href.startsWith(stack.op.issuer), { timeout: 15_000 })
    await popup.locator('input[name=login]').waitFor({ timeout: 15_000 })
    const during = await intervals(page)
    const polls = during.active.filter((id) => !before.active.includes(id))
    expect(polls).toHaveLength(1)
    expect(await popupOutcome(page)).toBeUndefined()

    await popup.close()
    const ticksAtClose = (await intervals(page)).ticks[polls[0]] ?? 0
    await until(async () => (await popupOutcome(page)) !== undefined, 5000, 'the popup login to settle')
    expect((await popupOutcome(page))?.error?.code).toBe('popup_closed')
    const after = await intervals(page)
    // Noticed by the next poll at the latest, and the poll is gone.
    expect((after.ticks[polls[0]] ?? 0) - ticksAtClose).toBeLessThanOrEqual(1)
    expect(after.active.sort()).toEqual(before.active.sort())
    expect((await state(page)).status).toBe('unauthenticated')
  })

  it('the user declines at the provider inside the popup: access_denied reaches the opener, the popup closes', async () => {
    context = await stack.newContext()
    const page = await openTab(context, stack)
    stack.op.resetStats()
    const [popup] = await Promise.all([page.waitForEvent('popup'), page.click('#popup-login')])
    await signInAtProvider(popup, stack, 'ada', { deny: true })
    await until(async () => (await popupOutcome(page)) !== undefined, 15_000, 'the popup login to settle')
    expect((await popupOutcome(page))?.error?.code).toBe('access_denied')
    await until(() => popup.isClosed(), 5000, 'the popup closed')
    expect((await state(page)).status).toBe('unauthenticated')
    expect(stack.op.stats.grants).toEqual({})
  })
})

describe("storage: 'memory'", () => {
  let stack: Stack
  let context: BrowserContext | undefined
  beforeAll(async () => {
    stack = await startStack({ page: { storage: 'memory' } })
  })
  afterEach(async () => {
    await context?.close()
    context = undefined
  })
  afterAll(async () => {
    await stack?.stop()
  })

  it('logs in through the redirect (the pending login survives it in sessionStorage, never a token), calls the API, keeps no IndexedDB', async () => {
    context = await stack.newContext()
    const page = await openTab(context, stack, '/drafts?id=7')
    void page.evaluate(() => (window as any).auth.login({ appState: { draft: 'hello', n: 1 } })).catch(() => {})
    await signInAtProvider(page, stack, 'ada')
    expect(await backOnApp(page, stack)).toBe('authenticated')
    expect(await callbackError(page)).toBeUndefined()
    expect((await state(page)).user).toMatchObject({ sub: 'ada' })
    expect(await page.evaluate(() => (window as any).redirectResult)).toEqual({ returnTo: '/drafts?id=7', appState: { draft: 'hello', n: 1 } })
    expect(await callApi(page)).toBe(200)
    // The pending login was taken once; no token anywhere but this tab's memory.
    expect(await page.evaluate(() => Object.keys(sessionStorage))).toEqual([])
    const leaks = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie)
    expect(leaks).not.toMatch(/eyJ|refresh/i)
    expect(await page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name))).toEqual([])
    // Memory: a reload starts signed out.
    await page.reload()
    expect(await ready(page)).toBe('unauthenticated')
  })

  it('a popup login is refused at once (config), before any window opens: the popup could not finish an attempt only this tab holds', async () => {
    context = await stack.newContext()
    const page = await openTab(context, stack)
    stack.op.resetStats()
    await page.click('#popup-login')
    await until(async () => (await popupOutcome(page)) !== undefined, 5000, 'the popup login to settle')
    expect((await popupOutcome(page))?.error?.code).toBe('config')
    expect(await page.evaluate(() => (window as any).popupSettledAtOnce)).toBe(true)
    expect(context.pages()).toHaveLength(1)
    expect(stack.op.stats.requests).toEqual({})
  })
})

describe('IndexedDB that fails (memory fallback)', () => {
  let stack: Stack
  let context: BrowserContext | undefined
  beforeAll(async () => {
    stack = await startStack()
  })
  afterEach(async () => {
    await context?.close()
    context = undefined
  })
  afterAll(async () => {
    await stack?.stop()
  })

  it('logs in all the same, with a warning event', async () => {
    context = await stack.newContext()
    // As in a browser whose settings forbid storage: every open throws.
    await context.addInitScript(() => {
      IDBFactory.prototype.open = () => {
        throw new DOMException('The operation is insecure.', 'SecurityError')
      }
    })
    const page = await openTab(context, stack)
    expect((await state(page)).status).toBe('unauthenticated')
    expect((await events(page)).filter((e) => e.type === 'warning').map((e) => e.message)).toEqual([expect.stringMatching(/IndexedDB failed \(SecurityError\)/)])
    await login(page, stack, 'ada')
    expect(await callbackError(page)).toBeUndefined()
    expect((await state(page)).status).toBe('authenticated')
    expect((await events(page)).filter((e) => e.type === 'warning')).toHaveLength(1)
    expect(await callApi(page)).toBe(200)
    expect(await page.evaluate(() => Object.keys(sessionStorage))).toEqual([])
  })

  it('a popup login after the fallback is refused at once (config), before any window opens', async () => {
    context = await stack.newContext()
    await context.addInitScript(() => {
      IDBFactory.prototype.open = () => {
        throw new DOMException('The operation is insecure.', 'SecurityError')
      }
    })
    const page = await openTab(context, stack)
    await page.click('#popup-login')
    await until(async () => (await popupOutcome(page)) !== undefined, 5000, 'the popup login to settle')
    expect((await popupOutcome(page))?.error?.code).toBe('config')
    expect(context.pages()).toHaveLength(1)
  })
})

describe('IndexedDB mode: appState, a login that never settles, a callback used twice', () => {
  let stack: Stack
  let context: BrowserContext | undefined
  beforeAll(async () => {
    stack = await startStack({
      routes: (req, res) => {
        // Where a page reports what its code did (sendBeacon survives the page unloading).
        if (!req.url?.startsWith('/beacon/')) return false
        res.statusCode = 204
        res.end()
        return true
      },
    })
  })
  afterEach(async () => {
    await context?.close()
    context = undefined
  })
  afterAll(async () => {
    await stack?.stop()
  })

  it('appState survives the redirect as structured clone: a Date and a Map come back as such', async () => {
    context = await stack.newContext()
    const page = await openTab(context, stack, '/compose?to=grace')
    void page
      .evaluate(() => (window as any).auth.login({ appState: { savedAt: new Date(1_700_000_000_000), tags: new Map([['urgent', 1]]), draft: { lines: ['hi', 'there'] } } }))
      .catch(() => {})
    await signInAtProvider(page, stack, 'ada')
    expect(await backOnApp(page, stack)).toBe('authenticated')
    expect(new URL(page.url()).pathname + new URL(page.url()).search).toBe('/compose?to=grace')
    const back = await page.evaluate(() => {
      const { returnTo, appState } = (window as any).redirectResult
      return { returnTo, date: appState.savedAt instanceof Date, time: appState.savedAt.getTime(), map: appState.tags instanceof Map, urgent: appState.tags.get('urgent'), lines: appState.draft.lines }
    })
    expect(back).toEqual({ returnTo: '/compose?to=grace', date: true, time: 1_700_000_000_000, map: true, urgent: 1, lines: ['hi', 'there'] })
    // This tab finished the login itself.
    expect((await events(page)).filter((e) => e.type === 'login')).toEqual([expect.objectContaining({ status: 'authenticated', fromOtherTab: false })])
  })

  it('an appState that cannot be cloned is refused at once (config), without leaving the page', async () => {
    context = await stack.newContext()
    const page = await openTab(context, stack)
    const code = await page.evaluate(() => (window as any).auth.login({ appState: { onDone: () => 1 } }).catch((e: any) => e.code))
    expect(code).toBe('config')
    expect(page.url()).toBe(`${stack.appOrigin}/`)
  })

  it('code after `await auth.login()` never runs: the page leaves for the provider first', async () => {
    context = await stack.newContext()
    const page = await openTab(context, stack)
    const sent = stack.appRequests.length
    await page.evaluate(() => {
      void (async () => {
        localStorage.setItem('before-login', '1')
        navigator.sendBeacon('/beacon/before-login')
        await (window as any).auth.login()
        // An app would render, redirect or report here; none of it must happen.
        localStorage.setItem('after-login', '1')
        navigator.sendBeacon('/beacon/after-login')
      })()
    })
    await signInAtProvider(page, stack, 'ada')
    expect(await backOnApp(page, stack)).toBe('authenticated')
    const requests = stack.appRequests.slice(sent)
    // The probe works (the line before the await ran and reported)...
    expect(requests).toContain('/beacon/before-login')
    expect(await page.evaluate(() => localStorage.getItem('before-login'))).toBe('1')
    // ...and the line after it never ran, in that page or any other.
    expect(requests).not.toContain('/beacon/after-login')
    expect(await page.evaluate(() => localStorage.getItem('after-login'))).toBeNull()
  })

  it("prompt: '' drops the default prompt=consent: a returning user comes straight back, and this provider then issues no refresh token", async () => {
    context = await stack.newContext()
    const page = await openTab(context, stack)
    await login(page, stack, 'ada')
    expect((await storedTokens(page)).refreshToken).toEqual(expect.any(String))
    // Logging in again (the provider still has its session and the grant; a logout would revoke the grant).
    const authorize = page.waitForRequest((request) => request.url().startsWith(`${stack.op.issuer}/auth?`))
    const callback = page.waitForEvent('framenavigated', { predicate: (frame) => frame === page.mainFrame() && frame.url().startsWith(`${stack.appOrigin}/callback?`), timeout: 15_000 })
    void page.evaluate(() => (window as any).auth.login({ params: { prompt: '' } })).catch(() => {})
    const url = new URL((await authorize).url())
    expect(url.searchParams.has('prompt')).toBe(false)
    expect(url.searchParams.get('scope')).toContain('offline_access')
    // Signed in at the provider, consent already given: no form, straight back to the app.
    await callback
    await page.waitForLoadState('load')
    expect(await ready(page)).toBe('authenticated')
    expect(await callbackError(page)).toBeUndefined()
    // OIDC Core §11: without prompt=consent oidc-provider ignores offline_access.
    expect((await storedTokens(page)).refreshToken).toBeUndefined()
  })

  it('a callback used twice (reload of the callback URL) is refused with a message that says the likely cause', async () => {
    context = await stack.newContext()
    const page = await openTab(context, stack)
    const callbacks: string[] = []
    page.on('request', (request) => {
      if (request.isNavigationRequest() && request.url().startsWith(`${stack.appOrigin}/callback?`)) callbacks.push(request.url())
    })
    await login(page, stack, 'ada')
    expect(callbacks).toHaveLength(1)
    await page.goto(callbacks[0])
    await ready(page)
    const error = await callbackError(page)
    expect(error?.code).toBe('state_mismatch')
    expect(error?.message).toMatch(/already used \(reload, back button\)/)
    // The session from the first use is untouched.
    expect((await state(page)).status).toBe('authenticated')
  })
})

// End-to-end harness: a real oidc-provider and an app server on 127.0.0.1, and Debian's
// Chromium driven by playwright-core. Each suite starts its own stack and stops it by handle.
import { build } from 'esbuild'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { createApi, startProvider } from '../../demo/provider.js'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

let bundle: Promise<string> | undefined
/** The test page bundled from the built package (dist/), as an app would ship it. */
function pageBundle(): Promise<string> {
  return (bundle ??= build({
    entryPoints: [new URL('./page.ts', import.meta.url).pathname],
    bundle: true,
    format: 'esm',
    target: 'es2020',
    platform: 'browser',
    write: false,
    logLevel: 'silent',
  }).then((r) => r.outputFiles[0].text))
}

export interface StackOptions {
  accessTokenTtl?: number
  page?: Record<string, unknown>
  confidential?: { clientId: string; clientSecret: string }
  /** Extra routes on the app server, tried before the defaults. */
  routes?: (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>
  /**
   * Keep Chromium's own popup blocker on (playwright turns it off with `--disable-popup-blocking`):
   * `window.open` outside a user gesture then returns null, as in a browser people use.
   */
  popupBlocker?: boolean
  /**
   * The provider's DPoP and PAR settings (see `startProvider`), and `apiResource: true` for JWT access
   * tokens with the demo API (`<app origin>/api`) as their audience, which `/api/me` then validates itself,
   * DPoP proof included.
   */
  provider?: { dpop?: false | { requireNonce?: boolean }; par?: { require?: boolean; requireForClient?: boolean }; apiResource?: boolean }
  /** The demo API's own DPoP rules (with `provider.apiResource`): Bearer refused, nonce required. */
  api?: { requireDPoP?: boolean; requireNonce?: boolean }
}

export type Stack = Awaited<ReturnType<typeof startStack>>

/** Starts app server + provider + browser. Call `stop()` in afterAll. */
export async function startStack(options: StackOptions = {}) {
  const app: Server = createServer()
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve))
  const appOrigin = `http://127.0.0.1:${(app.address() as AddressInfo).port}`
  const apiResource = options.provider?.apiResource ? `${appOrigin}/api` : undefined
  const op = await startProvider({
    appOrigins: [appOrigin],
    accessTokenTtl: options.accessTokenTtl ?? 30,
    confidential: options.confidential,
    dpop: options.provider?.dpop,
    par: options.provider?.par,
    apiResource,
  })
  const api = createApi(op.issuer, { audience: apiResource, ...options.api })
  const appRequests: string[] = []
  const pageConfig = { issuer: op.issuer, clientId: 'demo-spa', scope: 'openid profile email offline_access', ...options.page }

  app.on('request', async (req, res) => {
    const path = new URL(req.url ?? '/', appOrigin).pathname
    appRequests.push(path)
    try {
      if (options.routes && (await options.routes(req, res))) return
      if (path === '/app.js') {
        res.setHeader('content-type', 'text/javascript')
        res.end(await pageBundle())
      } else if (path === '/api/me') {
        await api.handle(req, res)
      } else if (path === '/favicon.ico') {
        res.statusCode = 204
        res.end()
      } else {
        res.setHeader('content-type', 'text/html')
        res.setHeader('referrer-policy', 'no-referrer')
        res.end(`<!doctype html><meta charset="utf-8"><title>oauth-tabs e2e</title><script>window.__CONFIG__=${JSON.stringify(pageConfig)}</script><script type="module" src="/app.js"></script><body>e2e</body>`)
      }
    } catch (err) {
      res.statusCode = 500
      res.end(String(err))
    }
  })

  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, ...(options.popupBlocker ? { ignoreDefaultArgs: ['--disable-popup-blocking'] } : {}) })

  return {
    appOrigin,
    op,
    api,
    appRequests,
    browser,
    /** A fresh browser profile: its pages are tabs that share IndexedDB, locks and channels. */
    async newContext(init?: { noLocks?: boolean }): Promise<BrowserContext> {
      const context = await browser.newContext()
      // No internet here: the provider's pages @import a web font.
      await context.route((url) => !['127.0.0.1', 'localhost'].includes(url.hostname), (route) => route.abort())
      // A controllable clock offset (Date.now only) for "the token is now expired".
      await context.addInitScript(() => {
        const real = Date.now
        ;(window as any).__offset = 0
        Date.now = () => real() + (window as any).__offset
      })
      if (init?.noLocks) {
        await context.addInitScript(() => {
          Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined, configurable: true })
        })
      }
      return context
    },
    async stop() {
      await browser.close().catch(() => {})
      await op.close()
      app.closeAllConnections()
      await new Promise((resolve) => app.close(resolve))
    },
  }
}

/** Opens a tab on the app and waits until it has read the stored session. */
export async function openTab(context: BrowserContext, stack: Stack, path = '/'): Promise<Page> {
  const page = await context.newPage()
  await page.goto(stack.appOrigin + path)
  await page.evaluate(() => (window as any).ready)
  return page
}

/**
 * Signs in on the provider's own pages, already open or on their way in `page` (a tab or a popup):
 * the login form, then the consent form, where `deny` clicks the provider's "Cancel" (the user
 * declines: the provider answers `access_denied`). Does not wait for the way back to the app.
 */
export async function signInAtProvider(page: Page, stack: Stack, user = 'ada', { deny = false } = {}): Promise<void> {
  await page.waitForURL((url) => url.href.startsWith(stack.op.issuer), { timeout: 15_000 })
  await page.locator('input[name=login]').fill(user)
  await page.locator('input[name=password]').fill('any')
  await page.locator('button[type=submit]').click()
  await page.locator('input[name=prompt][value=consent]').waitFor({ state: 'attached', timeout: 15_000 })
  await page.locator(deny ? 'a[href*="/abort"]' : 'button[type=submit]').click()
}

/** Logs in through the provider's own login and consent pages. */
export async function login(page: Page, stack: Stack, user = 'ada'): Promise<void> {
  void page.evaluate(() => (window as any).auth.login()).catch(() => {})
  await page.waitForURL((url) => url.href.startsWith(stack.op.issuer), { timeout: 15_000 })
  await page.locator('input[name=login]').fill(user)
  await page.locator('input[name=password]').fill('any')
  await page.locator('button[type=submit]').click()
  await page.waitForURL((url) => url.href.startsWith(stack.op.issuer) && url.pathname.includes('interaction'), { timeout: 15_000 })
  await page.locator('button[type=submit]').click()
  await page.waitForURL((url) => url.href.startsWith(stack.appOrigin), { timeout: 15_000 })
  await page.evaluate(() => (window as any).ready)
}

/** Polls `check` until it returns true, at most `ms` (bounded; every 50 ms). */
export async function until(check: () => boolean | Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`)
}

/** Test-only peek into the tab's IndexedDB record (what a script of the origin could read). */
export const storedTokens = (page: Page, name = 'default') =>
  page.evaluate(
    (n) =>
      new Promise<any>((resolve, reject) => {
        const open = indexedDB.open(`oauth-tabs:${n}`)
        open.onerror = () => reject(open.error)
        open.onsuccess = () => {
          const get = open.result.transaction('kv').objectStore('kv').get('tokens')
          get.onsuccess = () => resolve(get.result)
          get.onerror = () => reject(get.error)
        }
      }),
    name,
  )

/** Presents a refresh token to the provider directly (as an attacker or a second tab would). */
export async function presentRefreshToken(stack: Stack, refreshToken: string): Promise<{ status: number; error?: string }> {
  const response = await fetch(`${stack.op.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'demo-spa' }),
  })
  return { status: response.status, error: ((await response.json()) as { error?: string }).error }
}

export const state = (page: Page) => page.evaluate(() => (window as any).state()) as Promise<{ status: string; user?: Record<string, unknown>; expiresAt?: number }>
/** The events this tab's listener has seen (see page.ts). */
export const events = (page: Page) =>
  page.evaluate(() => (window as any).events) as Promise<{ type: string; status: string; at: number; code?: string; message?: string; fromOtherTab?: boolean }[]>
export const callApi = (page: Page, path?: string) => page.evaluate((p) => (window as any).callApi(p), path) as Promise<number | string>
/** Moves this tab's clock (Date.now) forward, as if time had passed without timers firing. */
export const skipAhead = (page: Page, ms: number) => page.evaluate((m) => ((window as any).__offset += m), ms)

/**
 * Arms `tabs` and fires `perTab` concurrent API calls in each at the same moment (a BroadcastChannel
 * trigger; the page's native one even where a test hides it); resolves to every call's outcome.
 */
export async function storm(tabs: Page[], perTab: number): Promise<(number | string)[]> {
  const armed = tabs.map((page) =>
    page.evaluate(
      (n) =>
        new Promise<(number | string)[]>((resolve) => {
          const Channel: typeof BroadcastChannel = (window as any).__nativeChannel ?? BroadcastChannel
          const channel = new Channel('storm')
          channel.onmessage = async () => {
            channel.close()
            resolve(await Promise.all(Array.from({ length: n }, () => (window as any).callApi())))
          }
          ;(window as any).armed = true
        }),
      perTab,
    ),
  )
  await until(async () => (await Promise.all(tabs.map((p) => p.evaluate(() => (window as any).armed === true)))).every(Boolean), 5000, 'tabs armed')
  await tabs[0].evaluate(() => new ((window as any).__nativeChannel ?? BroadcastChannel)('storm').postMessage('go'))
  return (await Promise.all(armed)).flat()
}

/** Logs in in a first tab, then opens `n - 1` more; every tab must be signed in (it read the stored session). */
export async function signedInTabs(context: BrowserContext, stack: Stack, n: number): Promise<Page[]> {
  const first = await openTab(context, stack)
  await login(first, stack)
  const tabs = [first]
  for (let i = 1; i < n; i++) tabs.push(await openTab(context, stack))
  for (const [i, tab] of tabs.entries()) {
    const { status } = await state(tab)
    if (status !== 'authenticated') throw new Error(`tab ${i + 1} of ${n} is ${status}, not signed in`)
  }
  return tabs
}

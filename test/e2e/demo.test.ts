import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CHROMIUM, CHROMIUM_ARGS, until } from './harness.js'
import { startDemo, type Demo } from './demo-server.js'

// What `npm start` serves: vite with the demo page, the embedded provider and the demo API.
describe.each([
  ['npm start', '0'],
  ['npm run start:confidential', '1'],
])('the demo (%s)', (_, confidential) => {
  let demo: Demo | undefined
  let browser: Browser
  let app: string

  async function newContext(width = 1280): Promise<BrowserContext> {
    const context = await browser.newContext({ viewport: { width, height: 844 } })
    await context.route((url) => !['127.0.0.1', 'localhost'].includes(url.hostname), (route) => route.abort())
    return context
  }
  async function openDemo(context: BrowserContext, status: 'authenticated' | 'unauthenticated'): Promise<Page> {
    const page = await context.newPage()
    await page.goto(app)
    await page.waitForSelector(`#status[data-status=${status}]`)
    return page
  }
  /** Through the provider's dev login form (any user name and password) and its consent page. */
  async function logIn(page: Page) {
    await page.click('#login')
    await page.waitForURL((u) => u.port === process.env.OP_PORT)
    await page.fill('input[name=login]', 'ada')
    await page.fill('input[name=password]', 'any')
    await page.click('button[type=submit]')
    await page.click('button[type=submit]') // consent
    await page.waitForSelector('#status[data-status=authenticated]')
  }

  beforeAll(async () => {
    // 10 s tokens: with the default refreshSkew (60 s, at most half the lifetime) a refresh every 5 s.
    demo = await startDemo({ DEMO_ACCESS_TOKEN_TTL: '10', DEMO_CONFIDENTIAL: confidential })
    app = demo.app
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
  })
  afterAll(async () => {
    await browser?.close()
    await demo?.stop()
  })

  it('logs in (name from UserInfo), calls the API, refreshes, and logs out back to the demo', async () => {
    const context = await newContext()
    const page = await openDemo(context, 'unauthenticated')
    const referers: { url: string; referer: string }[] = []
    page.on('request', (r) => void (r.headers().referer && referers.push({ url: r.url(), referer: r.headers().referer })))
    await logIn(page)
    // RFC 9700 §4.2.4: the callback page's requests (its own scripts, the token request) never carry the code.
    expect(referers.filter((r) => r.referer.includes('code='))).toEqual([])
    // The provider keeps name out of the ID token; the demo's userInfo: true brings it.
    expect(await page.locator('#who').innerText()).toBe('as Ada')
    if (confidential === '1') expect(await page.locator('#issuer').innerText()).toContain('demo-confidential')
    await page.click('#api')
    await expect.poll(() => page.locator('#api-result').innerText()).toContain('→ 200')
    await page.click('#refresh')
    await expect.poll(() => page.locator('#log').innerText()).toContain('forced refresh done')
    const providerRequests: string[] = []
    page.on('request', (r) => r.isNavigationRequest() && providerRequests.push(new URL(r.url()).pathname))
    await page.click('#logout')
    // RP-initiated logout: no question for the user's own id_token_hint; straight back to the demo.
    await page.waitForURL((u) => u.href === `${app}/` && providerRequests.length > 0)
    await page.waitForSelector('#status[data-status=unauthenticated]')
    expect(providerRequests.slice(0, 2)).toEqual(['/session/end', '/session/end/confirm'])
    // The provider's session ended too: the next login asks for credentials again.
    await page.click('#login')
    await page.waitForURL((u) => u.port === process.env.OP_PORT)
    await page.waitForSelector('input[name=login]')
    await context.close()
  })

  it('3 tabs on a 390 px phone: one sends the refresh, the others adopt it, 1 grant at the provider', async () => {
    const context = await newContext(390)
    const first = await openDemo(context, 'unauthenticated')
    await logIn(first)
    const tabs = [first, await openDemo(context, 'authenticated'), await openDemo(context, 'authenticated')]
    const readGrants = async () => ((await (await fetch(`${app}/demo/stats`)).json()) as { refreshGrants: number }).refreshGrants
    for (const tab of tabs) expect(await tab.locator('#role').getAttribute('data-role')).toBeOneOf(['login', 'none'])

    // One refresh cycle (about 5 s after login): every tab has a role and has heard from all three.
    const firstCycle = (tab: Page) =>
      tab.locator('#cycles li').evaluateAll((items) => items.map((li) => ({ ...(li as HTMLElement).dataset })).sort((a, b) => Number(a.expiresAt) - Number(b.expiresAt))[0])
    await until(
      async () => {
        for (const tab of tabs) {
          const cycle = await firstCycle(tab)
          if (cycle?.tabs !== '3' || cycle.grants === undefined) return false
        }
        return true
      },
      20_000,
      'every tab to report the first refresh cycle',
    )
    const roles = await Promise.all(tabs.map((tab) => tab.locator('#role').getAttribute('data-role')))
    expect(roles.filter((r) => r === 'sent')).toHaveLength(1)
    expect(roles.filter((r) => r === 'adopted')).toHaveLength(2)
    // The tab that says it sent the refresh sent the one refresh request; the others sent none.
    const requests = await Promise.all(tabs.map((tab) => tab.locator('#role').getAttribute('data-requests')))
    expect(requests[roles.indexOf('sent')]).toBe('1')
    expect(requests.filter((n) => n === null)).toHaveLength(2)
    for (const tab of tabs) {
      expect(await firstCycle(tab)).toMatchObject({ tabs: '3', senders: '1', grants: '1' })
      expect(await tab.locator('#role').innerText()).toMatch(roles[tabs.indexOf(tab)] === 'sent' ? /sent the last refresh/ : /Adopted the last refresh from another tab/)
    }
    expect(await first.locator('#headline').innerText()).toMatch(/^1 refresh grant, 3 tabs updated/)
    // The page's total is the provider's own count (polled every 3 s).
    await expect.poll(async () => Number(await first.locator('#grants').getAttribute('data-count')) === (await readGrants()), { timeout: 10_000 }).toBe(true)

    // Responsive: the API's JSON wraps inside its card; nothing scrolls sideways at 390 px.
    await first.click('#api')
    await expect.poll(() => first.locator('#api-result').innerText()).toContain('→ 200')
    for (const tab of tabs) expect(await tab.evaluate(() => document.scrollingElement!.scrollWidth)).toBeLessThanOrEqual(390)
    const pre = await first.locator('#api-result').evaluate((el) => ({ scroll: el.scrollWidth, client: el.clientWidth }))
    expect(pre.scroll).toBeLessThanOrEqual(pre.client)
    await context.close()
  })
})

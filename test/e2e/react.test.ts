import { chromium, type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startDemo, type Demo } from './demo-server.js'
import { CHROMIUM, CHROMIUM_ARGS } from './harness.js'

// The demo's React page (/react.html, a second entry of the vite app `npm start` serves), in real
// Chromium against the embedded provider: oauth-tabs/react re-renders every tab on one refresh.
describe('the demo React page (oauth-tabs/react)', () => {
  let demo: Demo | undefined
  let browser: Browser
  let app: string
  let opPort: string
  beforeAll(async () => {
    // Long-lived tokens: the only refresh is the one the test asks for.
    demo = await startDemo({ DEMO_ACCESS_TOKEN_TTL: '600' })
    app = demo.app
    opPort = demo.opPort
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
  })
  afterAll(async () => {
    await browser?.close()
    await demo?.stop()
  })

  it('logs in, re-renders both tabs on one refresh, and both on logout', async () => {
    const context = await browser.newContext()
    context.setDefaultTimeout(15_000)
    await context.route((url) => !['127.0.0.1', 'localhost'].includes(url.hostname), (route) => route.abort())
    const errors: string[] = []
    const refreshGrants: string[] = []
    const watch = (page: Page) => {
      page.on('console', (message) => message.type() === 'error' && errors.push(message.text()))
      page.on('pageerror', (err) => errors.push(String(err)))
      page.on('request', (request) => {
        if (request.url().startsWith(`http://127.0.0.1:${opPort}/token`) && request.postData()?.includes('grant_type=refresh_token')) refreshGrants.push(request.url())
      })
      return page
    }
    const expiresAt = (page: Page) => page.locator('#expires-at').textContent()

    const a = watch(await context.newPage())
    await a.goto(`${app}/react.html`)
    await a.waitForSelector('#status[data-status=unauthenticated]')
    await a.click('#login')
    await a.waitForURL((u) => u.port === opPort)
    await a.fill('input[name=login]', 'ada')
    await a.fill('input[name=password]', 'any')
    await a.click('button[type=submit]')
    await a.click('button[type=submit]') // consent
    await a.waitForSelector('#status[data-status=authenticated]')
    expect(a.url()).toBe(`${app}/react.html`)
    expect(await a.locator('#who').innerText()).toBe('as Ada')

    const b = watch(await context.newPage())
    await b.goto(`${app}/react.html`)
    await b.waitForSelector('#status[data-status=authenticated]')
    const before = await expiresAt(a)
    expect(await expiresAt(b)).toBe(before)

    await a.click('#refresh')
    await expect.poll(() => expiresAt(a), { timeout: 15_000 }).not.toBe(before)
    const after = await expiresAt(a)
    await expect.poll(() => expiresAt(b), { timeout: 15_000 }).toBe(after)
    expect(await a.locator('#last-event').innerText()).toContain('refresh (sent by this tab)')
    expect(await b.locator('#last-event').innerText()).toContain('refresh (adopted from another tab)')
    expect(refreshGrants).toHaveLength(1)

    // B logs out (then visits the provider's logout page); A re-renders signed out at once.
    await b.click('#logout')
    await a.waitForSelector('#status[data-status=unauthenticated]')
    expect(await a.locator('#who').innerText()).toBe('')
    // No React warning (getSnapshot, update depth) and no page error; the provider's pages fail to
    // load a web font here (no internet), which is not ours.
    expect(errors.filter((e) => !e.startsWith('Failed to load resource'))).toEqual([])
    await context.close()
  })
})

import { chromium, type Browser } from 'playwright-core'
import type { ViteDevServer } from 'vite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CHROMIUM, CHROMIUM_ARGS } from './harness.js'
import { freePort } from '../free-port.js'


// What `npm start` serves: vite with the demo page, the embedded provider and the demo API.
describe.each([
  ['npm start', '0'],
  ['npm run start:confidential', '1'],
])('the demo (%s)', (_, confidential) => {
  let server: ViteDevServer
  let browser: Browser
  let app: string
  beforeAll(async () => {
    process.env.PORT = String(await freePort())
    process.env.OP_PORT = String(await freePort())
    for (const name of ['VITE_ISSUER', 'VITE_CLIENT_ID', 'VITE_TOKEN_PROXY']) delete process.env[name]
    process.env.DEMO_CONFIDENTIAL = confidential
    const { createServer } = await import('vite')
    server = await createServer({ configFile: new URL('../../vite.config.ts', import.meta.url).pathname, logLevel: 'error' })
    await server.listen()
    app = `http://127.0.0.1:${process.env.PORT}`
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
  })
  afterAll(async () => {
    await browser?.close()
    await server?.close()
  })

  it('logs in, calls the API, refreshes, and logs out through the provider', async () => {
    const context = await browser.newContext()
    await context.route((url) => !['127.0.0.1', 'localhost'].includes(url.hostname), (route) => route.abort())
    const page = await context.newPage()
    await page.goto(app)
    await page.waitForSelector('#status[data-status=unauthenticated]')
    await page.click('#login')
    await page.waitForURL((u) => u.port === process.env.OP_PORT)
    await page.fill('input[name=login]', 'ada')
    await page.fill('input[name=password]', 'any')
    await page.click('button[type=submit]')
    await page.click('button[type=submit]') // consent
    await page.waitForSelector('#status[data-status=authenticated]')
    expect(await page.locator('#who').innerText()).toBe('as Ada')
    if (confidential === '1') expect(await page.locator('#issuer').innerText()).toContain('demo-confidential')
    await page.click('#api')
    await expect.poll(() => page.locator('#api-result').innerText()).toContain('→ 200')
    await page.click('#refresh')
    await expect.poll(() => page.locator('#log').innerText()).toContain('forced refresh done')
    await page.click('#logout')
    // RP-initiated logout: the provider asks, then returns to the demo signed out.
    await page.waitForURL((u) => u.port === process.env.OP_PORT)
    await page.click('button[name=logout]')
    await page.waitForURL((u) => u.href.startsWith(app))
    await page.waitForSelector('#status[data-status=unauthenticated]')
    await context.close()
  })
})

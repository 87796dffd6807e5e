import { mkdirSync } from 'node:fs'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeJwt, jwkThumbprint } from '../../demo/provider.js'
import { CHROMIUM, CHROMIUM_ARGS } from './harness.js'
import { startDemo, type Demo } from './demo-server.js'

// `VITE_DPOP=1 npm start`: the demo with DPoP. The embedded provider binds the tokens to the browser's
// key and demands nonces; the demo API validates the proofs and demands its own nonce.
describe('the demo with DPoP (VITE_DPOP=1 npm start)', () => {
  let demo: Demo | undefined
  let browser: Browser
  let app: string

  async function newContext(width = 1280): Promise<BrowserContext> {
    const context = await browser.newContext({ viewport: { width, height: 900 } })
    await context.route((url) => !['127.0.0.1', 'localhost'].includes(url.hostname), (route) => route.abort())
    return context
  }

  beforeAll(async () => {
    demo = await startDemo({ DEMO_ACCESS_TOKEN_TTL: '30', VITE_DPOP: '1' })
    app = demo.app
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
  })
  afterAll(async () => {
    await browser?.close()
    await demo?.stop()
  })

  it('logs in, calls the API with DPoP (the API reports the key the proof was made with), refreshes, logs out', async () => {
    const context = await newContext()
    const page: Page = await context.newPage()
    const proofs: { path: string; jkt: string; scheme?: string }[] = []
    page.on('request', (request) => {
      const dpop = request.headers().dpop
      if (dpop) proofs.push({ path: new URL(request.url()).pathname, jkt: jwkThumbprint(decodeJwt(dpop).header.jwk), scheme: request.headers().authorization?.split(' ')[0] })
    })
    await page.goto(app)
    await page.waitForSelector('#status[data-status=unauthenticated]')
    expect(await page.locator('#issuer').getAttribute('data-dpop')).toBe('true')
    await page.click('#login')
    await page.waitForURL((u) => u.port === process.env.OP_PORT)
    await page.fill('input[name=login]', 'ada')
    await page.fill('input[name=password]', 'any')
    await page.click('button[type=submit]')
    await page.click('button[type=submit]') // consent
    await page.waitForSelector('#status[data-status=authenticated]')
    // No UserInfo in this mode (the access token is for the API); the ID token carries the name.
    expect(await page.locator('#who').innerText()).toBe('as Ada')

    await page.click('#api')
    await expect.poll(() => page.locator('#api-result').innerText()).toContain('→ 200')
    const [jkt] = new Set(proofs.map((p) => p.jkt))
    expect(new Set(proofs.map((p) => p.jkt)).size).toBe(1)
    expect(proofs.filter((p) => p.path === '/api/me').every((p) => p.scheme === 'DPoP')).toBe(true)
    // The API validated the proof and the token's cnf.jkt: it is the browser's key.
    expect(await page.locator('#api-result').innerText()).toContain(`"jkt": "${jkt}"`)
    mkdirSync('/work/notes/screens', { recursive: true })
    await page.screenshot({ path: '/work/notes/screens/demo-dpop.png', fullPage: true })

    await page.click('#refresh')
    await expect.poll(() => page.locator('#log').innerText()).toContain('forced refresh done')
    expect(proofs.filter((p) => p.path === '/token').length).toBeGreaterThanOrEqual(2)
    await page.click('#api')
    await expect.poll(() => page.locator('#api-result').innerText()).toContain('→ 200')
    expect(new Set(proofs.map((p) => p.jkt))).toEqual(new Set([jkt]))

    await page.click('#logout')
    await page.waitForURL((u) => u.href === `${app}/`)
    await page.waitForSelector('#status[data-status=unauthenticated]')
    await context.close()
  })

  it('a plain Bearer call to the API is refused in this mode', async () => {
    const response = await fetch(`${app}/api/me`, { headers: { authorization: 'Bearer abc.def.ghi' } })
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_token"/)
  })
})

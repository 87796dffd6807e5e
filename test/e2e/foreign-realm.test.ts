import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { callApi, login, openTab, startStack, state, type Stack } from './harness.js'

// Issue F in real Chromium: (1) auth.fetch must not send the token to another origin, whatever
// form the request takes (an iframe's Request, a Request subclass whose url getter lies, a
// <base> element, URL objects, toString, protocol-relative URLs); a second loopback server on
// another port records whether it ever received Authorization. (2) The callback's code must
// not leak through Referer: the app server sends Referrer-Policy: no-referrer (the library
// cannot set headers), and no request after the callback carries a Referer with the code.

describe('auth.fetch with requests of every shape (real Chromium)', () => {
  let stack: Stack
  let context: BrowserContext
  let page: Page
  let evil: ReturnType<typeof createServer>
  let evilOrigin: string
  const evilSeen: { method: string; path: string; authorization?: string }[] = []

  beforeAll(async () => {
    // Another origin (another port), eager to receive tokens: it allows any CORS preflight.
    evil = createServer((req: IncomingMessage, res: ServerResponse) => {
      evilSeen.push({ method: req.method!, path: req.url!, authorization: req.headers.authorization })
      res.setHeader('access-control-allow-origin', '*')
      res.setHeader('access-control-allow-headers', 'authorization, content-type')
      res.end('{}')
    })
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve))
    evilOrigin = `http://127.0.0.1:${(evil.address() as AddressInfo).port}`
    stack = await startStack()
    context = await stack.newContext()
    page = await openTab(context, stack)
    await login(page, stack)
    expect((await state(page)).status).toBe('authenticated')
  })
  afterAll(async () => {
    await stack?.stop()
    evil?.closeAllConnections()
    await new Promise((resolve) => evil?.close(resolve))
  })
  beforeEach(() => {
    evilSeen.length = 0
  })

  /** Runs `probe` in the page (it gets the evil origin) and returns what the evil server saw. */
  async function probe(name: string, body: string) {
    const result = await page.evaluate(
      async ([evilOrigin, body]) => {
        const auth = (window as any).auth
        const run = new Function('auth', 'evil', `return (async () => { ${body} })()`)
        try {
          return await run(auth, evilOrigin)
        } catch (err) {
          return `threw ${(err as Error).name}`
        }
      },
      [evilOrigin, body] as const,
    )
    return { name, result, seen: evilSeen.filter((r) => r.method !== 'OPTIONS') }
  }

  it.each([
    ['an iframe\'s Request (another realm)', `
      const frame = document.createElement('iframe'); document.body.append(frame)
      const ForeignRequest = frame.contentWindow.Request
      const request = new ForeignRequest(evil + '/iframe')
      if (request instanceof Request) throw new Error('not foreign')
      return (await auth.fetch(request)).status`],
    ['an iframe\'s Request with an init that changes nothing about the URL', `
      const frame = document.createElement('iframe'); document.body.append(frame)
      const request = new frame.contentWindow.Request(evil + '/iframe-init', { method: 'POST', body: 'x' })
      return (await auth.fetch(request, { method: 'POST', headers: { 'x-test': '1' } })).status`],
    ['a Request subclass whose url getter names the page origin', `
      class Lying extends Request { get url() { return location.origin + '/api/me' } }
      return (await auth.fetch(new Lying(evil + '/subclass'))).status`],
    ['a relative URL under a <base> element that points elsewhere', `
      const base = document.createElement('base'); base.href = evil + '/'; document.head.append(base)
      try { return (await auth.fetch('base-relative')).status } finally { base.remove() }`],
    ['a URL object', 'return (await auth.fetch(new URL(evil + "/url-object"))).status'],
    ['an object with a toString', 'return (await auth.fetch({ toString: () => evil + "/to-string" })).status'],
    ['a protocol-relative URL', 'return (await auth.fetch(evil.replace("http:", "") + "/protocol-relative")).status'],
  ])('%s reaches the other origin without the token', async (name, body) => {
    const { result, seen } = await probe(name, body)
    expect(result).toBe(200)
    expect(seen).toHaveLength(1)
    expect(seen[0].authorization).toBeUndefined()
  })

  it("an iframe's Request to the app's own API gets the token (and the API accepts it)", async () => {
    const status = await page.evaluate(async () => {
      const frame = document.createElement('iframe')
      document.body.append(frame)
      const request = new (frame.contentWindow as any).Request(`${location.origin}/api/me`)
      return (await (window as any).auth.fetch(request)).status
    })
    expect(status).toBe(200)
    expect(await callApi(page)).toBe(200)
  })
})

describe('Referrer-Policy on the callback (real Chromium)', () => {
  let stack: Stack
  /** Whether the app server sends Referrer-Policy: no-referrer with the callback page. */
  let policy = true
  /** Referers the app server received (the provider's requests are observed in the page). */
  const referers: { at: string; path: string; referer: string }[] = []

  beforeAll(async () => {
    stack = await startStack({
      routes: async (req, res) => {
        const path = new URL(req.url ?? '/', stack.appOrigin).pathname
        if (req.headers.referer) referers.push({ at: 'app', path, referer: req.headers.referer })
        if (path !== '/callback') return false
        // The same page as the harness serves, with or without the policy header.
        const config = { issuer: stack.op.issuer, clientId: 'demo-spa', scope: 'openid profile email offline_access' }
        res.setHeader('content-type', 'text/html')
        if (policy) res.setHeader('referrer-policy', 'no-referrer')
        res.end(`<!doctype html><meta charset="utf-8"><title>callback</title><script>window.__CONFIG__=${JSON.stringify(config)}</script><script type="module" src="/app.js"></script><body>e2e</body>`)
        return true
      },
    })
  })
  afterAll(async () => {
    await stack?.stop()
  })

  /** Logs in, lets the page call the API, and returns the Referers the app server saw after the callback. */
  async function afterCallback(): Promise<{ at: string; path: string; referer: string }[]> {
    const context = await stack.newContext()
    const page = await openTab(context, stack)
    await login(page, stack)
    referers.length = 0
    // Everything the callback page does next: its script, the API, a navigation away.
    expect(await callApi(page)).toBe(200)
    await page.evaluate(() => fetch('/after-callback').catch(() => undefined))
    const seen = [...referers]
    await context.close()
    return seen
  }

  it('with no-referrer (as the README asks), no request after the callback carries a Referer with the code', async () => {
    policy = true
    const context = await stack.newContext()
    const page = await openTab(context, stack)
    const scripted: { path: string; referer?: string }[] = []
    page.on('request', (request) => {
      const url = new URL(request.url())
      if (url.origin === stack.appOrigin || url.origin === stack.op.issuer) scripted.push({ path: url.pathname, referer: request.headers().referer })
    })
    await login(page, stack)
    expect(await callApi(page)).toBe(200)
    // Chromium sent every request from the callback on (its script, the token request, the API) without Referer.
    const fromCallback = scripted.slice(scripted.findIndex((r) => r.path === '/callback'))
    expect(fromCallback.map((r) => r.path)).toEqual(expect.arrayContaining(['/callback', '/app.js', '/token', '/api/me']))
    expect(fromCallback.filter((r) => r.referer?.includes('code='))).toEqual([])
    await context.close()
    expect((await afterCallback()).filter((r) => r.referer.includes('code='))).toEqual([])
  })

  it('the control: without the header, the callback URL with its code leaks through Referer (so the test above can fail)', async () => {
    policy = false
    const context = await stack.newContext()
    const page = await openTab(context, stack)
    const leaked: string[] = []
    page.on('request', (request) => {
      const referer = request.headers().referer
      if (referer?.includes('code=')) leaked.push(new URL(request.url()).pathname)
    })
    await login(page, stack)
    // The page's own script is fetched before the library can clean the address bar.
    expect(leaked).toContain('/app.js')
    await context.close()
    policy = true
  })
})

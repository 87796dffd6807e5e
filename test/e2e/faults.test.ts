import { mkdirSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { callApi, login, openTab, skipAhead, startStack, state, until, type Stack } from './harness.js'

// Issue D end to end: a fault layer in front of the real provider's token endpoint, real Chromium.
type Fault = '503' | '429' | 'html' | 'drop' | 'delay10'

describe('token endpoint faults (real Chromium, real oidc-provider)', () => {
  let stack: Stack
  let context: BrowserContext
  let page: Page
  const queue: Fault[] = []
  const rows: string[] = []
  let evilSeen: { method: string; authorization?: string }[] = []
  let evil: ReturnType<typeof createServer>
  let evilOrigin: string

  beforeAll(async () => {
    // Another origin, eager to receive tokens: it allows any CORS preflight.
    evil = createServer((req: IncomingMessage, res) => {
      evilSeen.push({ method: req.method!, authorization: req.headers.authorization })
      res.setHeader('access-control-allow-origin', '*')
      res.setHeader('access-control-allow-headers', 'authorization')
      res.end('{}')
    })
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve))
    evilOrigin = `http://localhost:${(evil.address() as AddressInfo).port}`
    stack = await startStack({
      routes: (req, res) => {
        if (req.url === '/api/redirect') {
          res.writeHead(307, { location: `${evilOrigin}/steal` })
          res.end()
          return true
        }
        if (req.url === '/api/same-origin-redirect') {
          res.writeHead(307, { location: '/api/me' })
          res.end()
          return true
        }
        return false
      },
    })
    stack.op.setTokenFault(async (ctx: any) => {
      const fault = queue.shift()
      if (!fault) return false
      if (fault === 'delay10') {
        await new Promise((r) => setTimeout(r, 10_000))
        return false
      }
      if (fault === 'drop') {
        ctx.req.socket.destroy()
        return true
      }
      // A provider's error answers carry its CORS headers, and it exposes Retry-After (else
      // browsers hide it from scripts).
      ctx.set('access-control-allow-origin', ctx.get('origin'))
      ctx.set('access-control-expose-headers', 'retry-after')
      if (fault === '429') {
        ctx.status = 429
        ctx.set('retry-after', '2')
        ctx.body = { error: 'slow_down' }
      } else if (fault === '503') {
        ctx.status = 503
        ctx.body = { error: 'temporarily_unavailable' }
      } else {
        ctx.status = 502
        ctx.type = 'text/html'
        ctx.body = '<!doctype html><h1>502 Bad Gateway</h1><p>nginx</p>'
      }
      return true
    })
    context = await stack.newContext()
    page = await openTab(context, stack)
    await login(page, stack)
  })
  afterAll(async () => {
    if (rows.length) {
      const table = ['| fault at the token endpoint | token-endpoint hits | outcome | time to recover |', '| --- | ---: | --- | ---: |', ...rows].join('\n')
      console.log(`\n${table}\n`)
      mkdirSync('test-results', { recursive: true })
      writeFileSync('test-results/faults.md', `${table}\n`)
    }
    await stack?.stop()
    evil?.closeAllConnections()
    evil?.close()
  })

  /** Expires the token, queues the faults, calls the API once; returns hits, outcome and time. */
  async function expiredCallWith(faults: Fault[]) {
    queue.splice(0, queue.length, ...faults)
    const hits = stack.op.stats.requests['/token'] ?? 0
    await skipAhead(page, 31_000)
    const started = Date.now()
    const outcome = await callApi(page)
    return { hits: (stack.op.stats.requests['/token'] ?? 0) - hits, outcome, ms: Date.now() - started }
  }
  const record = (fault: string, r: { hits: number; outcome: number | string; ms: number }, kept: boolean) =>
    rows.push(`| ${fault} | ${r.hits} | ${r.outcome === 200 ? 'session kept, API 200' : `${r.outcome}${kept ? ', session kept' : ''}`} | ${(r.ms / 1000).toFixed(1)} s |`)

  it('503 twice, then OK: retried with backoff, 3 hits, the call succeeds', async () => {
    const r = await expiredCallWith(['503', '503'])
    expect(r).toMatchObject({ hits: 3, outcome: 200 })
    record('503 ×2, then OK', r, true)
  })

  it('429 with Retry-After: 2: waits 2 s, 2 hits, the call succeeds', async () => {
    const r = await expiredCallWith(['429'])
    expect(r).toMatchObject({ hits: 2, outcome: 200 })
    expect(r.ms).toBeGreaterThanOrEqual(1900)
    record('429, Retry-After: 2', r, true)
  })

  it('an HTML error page (502 text/html): server_error, retried, the call succeeds', async () => {
    const r = await expiredCallWith(['html'])
    expect(r).toMatchObject({ hits: 2, outcome: 200 })
    record('502 HTML error page, then OK', r, true)
  })

  it('a dropped connection (before the provider saw it): retried, the call succeeds', async () => {
    const r = await expiredCallWith(['drop'])
    expect(r).toMatchObject({ hits: 2, outcome: 200 })
    record('connection dropped, then OK', r, true)
  })

  it('a 10 s delay: one request, the call waits and succeeds', async () => {
    const r = await expiredCallWith(['delay10'])
    expect(r).toMatchObject({ hits: 1, outcome: 200 })
    expect(r.ms).toBeGreaterThanOrEqual(9900)
    record('10 s delay', r, true)
  })

  it('503 on every try: bounded at 3 hits, server_error, the session and refresh token are kept; the next call recovers', async () => {
    const r = await expiredCallWith(['503', '503', '503'])
    expect(r).toMatchObject({ hits: 3, outcome: 'server_error' })
    expect((await state(page)).status).toBe('authenticated')
    record('503 on all 3 tries', r, true)
    const started = Date.now()
    expect(await callApi(page)).toBe(200)
    expect(stack.op.stats.grantErrors).toEqual([])
    rows.push(`| …then the provider recovers | 1 | session kept, API 200 | ${((Date.now() - started) / 1000).toFixed(1)} s |`)
  })

  it('offline, then online: no request while offline, a refresh on the online event', async () => {
    const hits = stack.op.stats.requests['/token'] ?? 0
    await context.setOffline(true)
    await skipAhead(page, 31_000)
    expect(await callApi(page)).toBe('network')
    expect((stack.op.stats.requests['/token'] ?? 0) - hits).toBe(0)
    const started = Date.now()
    await context.setOffline(false)
    await until(async () => (stack.op.stats.requests['/token'] ?? 0) - hits === 1, 5000, 'a refresh after coming online')
    await until(async () => (await state(page)).expiresAt! > (await page.evaluate(() => Date.now())), 5000, 'a fresh token')
    expect(await callApi(page)).toBe(200)
    rows.push(`| offline, then online | 1 (0 while offline) | network while offline; session kept, API 200 after | ${((Date.now() - started) / 1000).toFixed(1)} s |`)
  })

  it('Chromium drops the token on a redirect to another origin; a same-origin redirect keeps it', async () => {
    evilSeen = []
    const status = await page.evaluate(async () => {
      try {
        return (await (window as any).auth.fetch('/api/redirect')).status
      } catch (err) {
        return String(err)
      }
    })
    expect(status).toBe(200)
    expect(evilSeen.length).toBeGreaterThan(0)
    expect(evilSeen.every((r) => r.authorization === undefined)).toBe(true)
    expect(await callApi(page, '/api/same-origin-redirect')).toBe(200)
  })
})

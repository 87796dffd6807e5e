import { build } from 'esbuild'
import { readFileSync } from 'node:fs'
import type { BrowserContext, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { signInAtProvider, startStack, until, type Stack } from './harness.js'

// The documentation's code, run as written in real Chromium against the real provider: every ```ts
// block of the README's "## Quick start" section (in order, as one module: the README says they
// are one), and the TSDoc @example of createAuth in src/client.ts.
//
// The only changes made to the code are these literal replacements, the example hosts and client
// becoming this run's servers (the app server answers the API at /me):
//   'https://id.example.com'  -> the provider's issuer
//   'https://api.example.com' -> the app's origin
//   'my-spa'                  -> 'demo-spa' (the client the provider knows)
// The app's own functions the snippets call (showLoginError, render) come from a prelude that
// records the calls; a postlude records that the module ran to its end, and exposes `auth`.

const root = new URL('../../', import.meta.url).pathname

/** The ```ts blocks of the README section `heading` (up to the next `## ` heading), in order. */
function readmeSnippets(heading = '## Quick start'): string[] {
  const readme = readFileSync(`${root}README.md`, 'utf8')
  const start = readme.indexOf(`\n${heading}\n`)
  if (start < 0) throw new Error(`README has no "${heading}" section`)
  const end = readme.indexOf('\n## ', start + heading.length + 2)
  const section = readme.slice(start, end < 0 ? undefined : end)
  return [...section.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1])
}

/** The ```ts @example of `name`'s TSDoc in src/client.ts, without the comment's `*` prefixes. */
function tsdocExample(name: string, file = 'src/client.ts'): string {
  const source = readFileSync(`${root}${file}`, 'utf8')
  const at = source.indexOf(`export function ${name}(`)
  const doc = source.slice(source.lastIndexOf('/**', at), at)
  const block = /\* ```ts\n((?:\s*\*.*\n)*?)\s*\* ```/.exec(doc.slice(doc.indexOf('@example')))
  if (at < 0 || !block) throw new Error(`no @example for ${name} in ${file}`)
  return block[1]
    .split('\n')
    .map((line) => line.replace(/^\s*\* ?/, ''))
    .join('\n')
}

const PRELUDE = `
const __w = window as any
__w.__snippet = { renders: [], loginErrors: [], done: false }
function showLoginError(code: string, message: string) { __w.__snippet.loginErrors.push({ code, message }) }
function render(state: { status: string }, data?: unknown) { __w.__snippet.renders.push({ status: state.status, data }) }
`
const POSTLUDE = `
__w.__snippet.done = true
__w.__snippet.auth = auth
`

/** The snippet with the documented replacements; each placeholder must be there (else the test would run something else). */
function substitute(code: string, stack: Stack): string {
  const replacements: [string, string][] = [
    ['https://id.example.com', stack.op.issuer],
    ['https://api.example.com', stack.appOrigin],
    ["'my-spa'", "'demo-spa'"],
  ]
  for (const [from] of replacements) expect(code, `the snippet uses ${from}`).toContain(from)
  return replacements.reduce((out, [from, to]) => out.replaceAll(from, to), code)
}

/** Bundles snippet code (with prelude and postlude) as the page's one module; `oauth-tabs` is the built package. */
async function bundle(code: string): Promise<string> {
  const result = await build({
    stdin: { contents: PRELUDE + code + POSTLUDE, loader: 'ts', resolveDir: root, sourcefile: 'snippet.ts' },
    bundle: true,
    format: 'esm',
    target: 'es2022',
    platform: 'browser',
    write: false,
    logLevel: 'silent',
    plugins: [{ name: 'oauth-tabs', setup: (b) => b.onResolve({ filter: /^oauth-tabs$/ }, () => ({ path: `${root}dist/index.js` })) }],
  })
  return result.outputFiles[0].text
}

type Snippet = { renders: { status: string; data?: any }[]; loginErrors: { code: string; message: string }[]; done: boolean }
/** What the snippet did so far in `page`; undefined while the page navigates. */
const snippet = (page: Page) => page.evaluate(() => (window as any).__snippet as Snippet).catch(() => undefined)

describe('documentation snippets run as written (real Chromium, real oidc-provider)', () => {
  let stack: Stack
  let context: BrowserContext | undefined
  let served = ''
  beforeAll(async () => {
    stack = await startStack({
      // Every page of the app is the snippet's page (the callback route included), with a logout button.
      routes: async (req, res) => {
        const path = new URL(req.url ?? '/', 'http://x').pathname
        if (path === '/me') {
          await stack.api.handle(req, res)
        } else if (path === '/snippet.js') {
          res.setHeader('content-type', 'text/javascript')
          res.end(served)
        } else if (path !== '/favicon.ico') {
          res.setHeader('content-type', 'text/html')
          res.end('<!doctype html><meta charset="utf-8"><title>snippet</title><button id="logout">Log out</button><script type="module" src="/snippet.js"></script>')
        } else return false
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

  it('the README quick start has the snippets this test runs', () => {
    const snippets = readmeSnippets()
    expect(snippets.length).toBeGreaterThanOrEqual(3)
    const all = snippets.join('\n')
    for (const call of ['createAuth(', 'handleRedirect(', 'ready(', 'login(', 'fetch(', 'subscribe(', 'logout(']) expect(all).toContain(call)
  })

  it('README quick start: logged out -> its login runs; back on the callback the API call succeeds; logout ends both sessions', async () => {
    served = await bundle(substitute(readmeSnippets().join('\n'), stack))
    context = await stack.newContext()
    const page = await context.newPage()
    stack.op.resetStats()
    const okBefore = stack.api.stats.ok

    // Signed out: the snippet's own "log in if needed" sends the page to the provider.
    await page.goto(`${stack.appOrigin}/`)
    await signInAtProvider(page, stack, 'ada')
    await page.waitForURL((url) => url.href.startsWith(stack.appOrigin), { timeout: 15_000 })
    await until(async () => (await snippet(page))?.done === true, 10_000, 'the snippet module to finish')

    const after = (await snippet(page))!
    expect(after.loginErrors).toEqual([])
    // The callback snippet put the page back where login() was called, without the code.
    expect(page.url()).toBe(`${stack.appOrigin}/`)
    expect(after.renders).toEqual([{ status: 'authenticated', data: { claims: expect.objectContaining({ sub: 'ada' }), time: expect.any(String) } }])
    expect(stack.api.stats.ok).toBe(okBefore + 1)
    expect(stack.op.stats.grants.authorization_code).toBe(1)

    // A reload while signed in stays on the page and calls the API again; no trip to the provider.
    await page.reload()
    await until(async () => (await snippet(page))?.done === true, 10_000, 'the snippet module to finish again')
    expect(page.url()).toBe(`${stack.appOrigin}/`)
    expect((await snippet(page))!.renders).toEqual([{ status: 'authenticated', data: expect.objectContaining({ claims: expect.objectContaining({ sub: 'ada' }) }) }])
    expect(stack.api.stats.ok).toBe(okBefore + 2)
    expect(stack.op.stats.requests['/auth']).toBe(1)

    // The logout button: revocation at the provider, then the provider's own logout (which the demo
    // provider confirms by itself when the id_token_hint is the signed-in user's).
    await page.click('#logout')
    await until(() => stack.op.stats.revocations === 1, 15_000, 'the revocation')
    // Back on the app, signed out: the snippet logs in again, and the provider asks for the
    // login again (its session ended too).
    await page.waitForURL((url) => url.href.startsWith(stack.op.issuer) && url.pathname.includes('interaction'), { timeout: 15_000 })
    await page.locator('input[name=login]').waitFor({ timeout: 15_000 })
    expect(stack.op.stats.requests['/session/end/confirm']).toBe(1)
  })

  it('README quick start: the user declines at the provider -> showLoginError(access_denied), no new login, the module completes', async () => {
    served = await bundle(substitute(readmeSnippets().join('\n'), stack))
    context = await stack.newContext()
    const page = await context.newPage()
    await page.goto(`${stack.appOrigin}/`)
    await signInAtProvider(page, stack, 'ada', { deny: true })
    await page.waitForURL((url) => url.href.startsWith(stack.appOrigin), { timeout: 15_000 })
    await until(async () => (await snippet(page))?.done === true, 10_000, 'the snippet module to finish')
    const after = (await snippet(page))!
    expect(after.loginErrors).toEqual([{ code: 'access_denied', message: expect.any(String) }])
    expect(page.url()).toBe(`${stack.appOrigin}/callback`)
    expect(await page.evaluate(() => (window as any).__snippet.auth.getState().status)).toBe('unauthenticated')
  })

  it('TSDoc @example of createAuth: logged out -> login; back on the callback, signed in, the API call succeeds', async () => {
    served = await bundle(substitute(tsdocExample('createAuth'), stack))
    context = await stack.newContext()
    const page = await context.newPage()
    stack.op.resetStats()
    const okBefore = stack.api.stats.ok
    await page.goto(`${stack.appOrigin}/`)
    await signInAtProvider(page, stack, 'ada')
    await page.waitForURL((url) => url.href.startsWith(stack.appOrigin), { timeout: 15_000 })
    await until(async () => (await snippet(page))?.done === true, 10_000, 'the example module to finish')
    expect(page.url()).toBe(`${stack.appOrigin}/`)
    expect(await page.evaluate(() => (window as any).__snippet.auth.getState().status)).toBe('authenticated')
    expect(stack.api.stats.ok).toBe(okBefore + 1)
    expect(stack.op.stats.grants.authorization_code).toBe(1)

    // A reload of a signed-in page stays here: "log in if needed" does not send it to the provider.
    await page.reload()
    await until(async () => (await snippet(page))?.done === true, 10_000, 'the example module to finish again')
    expect(page.url()).toBe(`${stack.appOrigin}/`)
    expect(stack.api.stats.ok).toBe(okBefore + 2)
    expect(stack.op.stats.requests['/auth'] ?? 0).toBe(1)
  })
})

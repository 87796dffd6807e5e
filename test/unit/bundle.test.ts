import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { APPS, measure } from '../../scripts/size.mjs'
import type { Auth, createAuth as CreateAuth } from '../../src/index.js'
import { APP, fakeProvider, installFakeLocks, ISSUER, logIn, openTab, REDIRECT, removeLocks, watchStorage } from './helpers.js'

// Checks over what ships: the browser entry of dist/ (built by test/build-setup.ts).
describe('the shipped browser code', () => {
  let code = ''
  let types = ''
  beforeAll(() => {
    const files = readdirSync('dist').filter((f) => !f.includes('/'))
    code = files.filter((f) => f.endsWith('.js')).map((f) => readFileSync(`dist/${f}`, 'utf8')).join('\n')
    types = files.filter((f) => f.endsWith('.d.ts')).map((f) => readFileSync(`dist/${f}`, 'utf8')).join('\n')
  })


  it('has no client secret option in its types (RFC 10017 §6.3.3.1)', () => {
    expect(types).not.toMatch(/clientSecret\??:|client_secret\??:/)
  })

  it('imports nothing of the server entry', () => {
    expect(code).not.toMatch(/from '\.\/server|node:/)
  })

  it('asks the provider with cache: no-store (RFC 6749 §5.1)', async () => {
    installFakeLocks()
    const op = fakeProvider()
    await logIn(openTab(op), op)
    const inits = op.fetch.mock.calls.map(([, init]) => init as RequestInit | undefined)
    expect(inits.length).toBeGreaterThan(0)
    expect(inits.every((init) => init?.cache === 'no-store')).toBe(true)
  })
})

interface Chunk {
  min: number
  gzip: number
  code: string
  origins: [string, number][]
}
interface Measured extends Chunk {
  lazy: Chunk[]
  files: { name: string; contents: Uint8Array; entry: boolean }[]
}

// RFC 10017 §8.1: tokens never in localStorage or cookies. Checked over what a page really loads:
// our code and the dependencies bundled with it (scripts/size.mjs, as `npm run size` measures),
// up front and in every lazy chunk. sessionStorage is not forbidden outright (the pending login,
// never a token, may go there in storage: 'memory' mode): what is checked is that no token does.
describe('the bundle a page loads: tokens never in localStorage or cookies', () => {
  const STORAGE = /localStorage|document\.cookie|cookieStore/
  let page: Measured
  let dir: string
  beforeAll(async () => {
    page = await measure(APPS[0][1])
    // Inside the project (its tmp/ is git-ignored): vitest's module runner loads from there.
    mkdirSync('tmp', { recursive: true })
    dir = mkdtempSync(join(process.cwd(), 'tmp', 'bundle-'))
    for (const f of page.files) writeFileSync(join(dir, f.name), f.contents)
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  afterEach(() => vi.unstubAllGlobals())

  it('up front, neither our code nor a bundled dependency mentions localStorage or cookies', () => {
    expect(page.code.length).toBeGreaterThan(10_000)
    expect(page.code).not.toMatch(STORAGE)
  })

  it('tree-shakes: an app importing only AuthError gets no dependency and under 1.5 kB (AuthError redacts tokens from messages and causes)', async () => {
    const narrow: Measured = await measure(APPS.find(([label]) => label.includes('only AuthError'))![1])
    expect(narrow.origins.map(([o]) => o)).toEqual(['oauth-tabs/errors'])
    expect(narrow.gzip).toBeLessThan(1500)
    expect(narrow.lazy).toEqual([])
  })

  it('only the lazy broadcast-channel fallback does (its localstorage method, which is never selected: see below)', () => {
    const mentioning = page.lazy.filter((chunk) => STORAGE.test(chunk.code)).map((chunk) => chunk.origins.map(([o]) => o))
    expect(mentioning).toEqual([expect.arrayContaining(['broadcast-channel', 'oauth-tabs/tabs-fallback'])])
  })

  /** Two tabs of the bundled createAuth run login, a refresh and a logout; every storage write is recorded. */
  async function runBundled(shared: boolean) {
    const { createAuth } = (await import(/* @vite-ignore */ join(dir, page.files.find((f) => f.entry)!.name))) as { createAuth: typeof CreateAuth }
    const writes = watchStorage()

    const op = fakeProvider({ expiresIn: 0 })
    const name = `bundled-${Math.random().toString(36).slice(2)}`
    const open = (): Auth => createAuth({ name, issuer: ISSUER, clientId: 'spa', redirectUri: REDIRECT, scope: 'openid offline_access', apiOrigins: [APP], fetch: op.fetch })
    const a = open()
    await logIn(a, op)
    // Without IndexedDB the session is this tab's memory: the second tab then starts signed out.
    const b = open()
    if (shared) await vi.waitFor(() => expect(b.getState().status).toBe('authenticated'))
    const [ta, tb] = await Promise.all([a.getAccessToken(), shared ? b.getAccessToken() : a.getAccessToken()])
    await a.logout()
    const tokens = [ta, tb, ...op.requests('/token').flatMap((r) => [r.params.get('refresh_token'), r.params.get('code')])].filter((t): t is string => !!t)
    return { a, b, op, writes, tokens }
  }

  it('the bundled fallback without Web Locks, native BroadcastChannel and IndexedDB (where broadcast-channel alone would pick localStorage) writes nothing there', async () => {
    removeLocks()
    vi.stubGlobal('BroadcastChannel', undefined)
    vi.stubGlobal('indexedDB', undefined)
    const { a, b, op, writes, tokens } = await runBundled(false)
    expect(op.requests('/token', 'refresh_token')).toHaveLength(1)
    expect(writes.filter((w) => !w.startsWith('sessionStorage'))).toEqual([])
    expect(writes.filter((w) => tokens.some((t) => w.includes(t)))).toEqual([])
    expect(localStorage.length).toBe(0)
    a.close()
    b.close()
  }, 20_000)

  it('the bundled fallback over IndexedDB (no Web Locks, no native BroadcastChannel) carries the logout to the other tab and writes nothing to localStorage', async () => {
    removeLocks()
    vi.stubGlobal('BroadcastChannel', undefined)
    const { a, b, op, writes, tokens } = await runBundled(true)
    expect(op.requests('/token', 'refresh_token')).toHaveLength(1)
    // Only the fallback's channel links the tabs here: the logout arriving proves it ran.
    await vi.waitFor(() => expect(b.getState().status).toBe('unauthenticated'), 5000)
    expect(writes.filter((w) => !w.startsWith('sessionStorage'))).toEqual([])
    expect(writes.filter((w) => tokens.some((t) => w.includes(t)))).toEqual([])
    expect(localStorage.length).toBe(0)
    a.close()
    b.close()
  }, 20_000)
})

describe('importing oauth-tabs in plain Node', () => {
  it('defines no globals (broadcast-channel used to leave regeneratorRuntime)', () => {
    const script = `
      const before = new Set(Object.getOwnPropertyNames(globalThis))
      const lib = await import(${JSON.stringify(pathToFileURL('dist/index.js').href)})
      if (typeof lib.createAuth !== 'function') throw new Error('not the package')
      console.log(JSON.stringify(Object.getOwnPropertyNames(globalThis).filter((k) => !before.has(k))))`
    const added = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }))
    expect(added).toEqual([])
  })
})

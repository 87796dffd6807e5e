// The package as consumers get it: `npm pack`, the tarball installed into fresh apps in a temp dir
// outside the repo, built with vite and run in Chromium; the server entry run by plain Node.
import { copyFileSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CHROMIUM, CHROMIUM_ARGS } from '../e2e/harness.js'
import { freePort } from '../free-port.js'
import { NODE_IMPORT, ROOT, pack, readBundle, removeDir, serveStatic, sh, sourceMapProblems, startRedis, tempDir, viteBuild, walk, writeFiles, type Chunk } from './consumer.js'

const kB = (bytes: number) => `${bytes} B (${(bytes / 1000).toFixed(1)} kB)`
const sum = (chunks: Chunk[]) => chunks.reduce((n, c) => n + c.gzip, 0)
const modulesOf = (chunks: Chunk[]) => chunks.flatMap((c) => c.modules)
/** A module of the installed package, as the app's source maps name it (shipped dist/ or its src/). */
const ours = (path: string) => new RegExp(`node_modules/oauth-tabs/(dist|src)/${path}`)
const SERVER = ours('server/')
const BROADCAST_CHANNEL = /node_modules\/broadcast-channel\//

/** The packed package.json: whether `oauth-tabs/react` is there decides the React case. */
const packageJson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, unknown> }
const hasReact = './react' in packageJson.exports
const REACT_SKIP = 'skipped: package.json has no "./react" export yet (oauth-tabs/react is not built); this case runs as soon as it exists'

let work: string
let app: string
let tarball: string
let unpacked: string
let files: string[]
let browser: Browser | undefined

const vanilla = {
  'index.html': `<!doctype html><meta charset="utf-8"><title>consumer</title><script type="module" src="/main.ts"></script><body></body>`,
  'main.ts': `import { AuthError, createAuth, type AuthOptions } from 'oauth-tabs'

const code = (err: unknown) => (err instanceof AuthError ? err.code : String(err))
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const base: AuthOptions = { issuer: 'https://id.invalid', clientId: 'spa', redirectUri: location.origin + '/callback', scope: 'openid offline_access' }

async function main() {
  const out: Record<string, unknown> = {}
  const withSecret = { ...base, clientSecret: 'not in a browser' }
  try {
    createAuth(withSecret)
    out.secret = 'accepted'
  } catch (err) {
    out.secret = code(err)
  }
  const auth = createAuth(base)
  out.first = auth.getState().status
  for (let i = 0; i < 250 && auth.getState().status === 'loading'; i++) await sleep(20)
  out.settled = auth.getState().status
  try {
    await auth.getAccessToken()
    out.token = 'a token without a session'
  } catch (err) {
    out.token = code(err)
  }
  out.locks = typeof navigator.locks?.request === 'function'
  ;(window as unknown as { __result: unknown }).__result = out
}
main().catch((err) => ((window as unknown as { __result: unknown }).__result = { crashed: String(err) }))
`,
  'tsconfig.json': JSON.stringify({
    compilerOptions: { target: 'es2022', module: 'esnext', moduleResolution: 'bundler', lib: ['es2022', 'dom', 'dom.iterable'], strict: true, noEmit: true, types: [], skipLibCheck: false },
    include: ['main.ts'],
  }),
}

const server = {
  // Runtime: the proxy answers a code exchange against a local provider; client_credentials through ioredis 6.
  'server.mjs': `import { createServer } from 'node:http'
import { Redis } from 'ioredis'
import { createClientCredentials, createTokenProxy } from 'oauth-tabs/server'

const seen = []
const provider = createServer((req, res) => {
  let body = ''
  req.on('data', (c) => (body += c))
  req.on('end', () => {
    seen.push({ path: req.url, authorization: req.headers.authorization, body: Object.fromEntries(new URLSearchParams(body)) })
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ access_token: 'at-' + seen.length, token_type: 'Bearer', expires_in: 300 }))
  })
})
await new Promise((r) => provider.listen(0, '127.0.0.1', r))
const tokenEndpoint = 'http://127.0.0.1:' + provider.address().port + '/token'

const proxy = createTokenProxy({ tokenEndpoint, clientId: 'app', clientSecret: 's3cret', allowedOrigins: ['https://app.example'], redirectUris: ['https://app.example/callback'] })
const response = await proxy(new Request('https://api.example/oauth/token', {
  method: 'POST',
  headers: { origin: 'https://app.example', 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams({ grant_type: 'authorization_code', code: 'the-code', redirect_uri: 'https://app.example/callback', code_verifier: 'v'.repeat(43), client_id: 'app' }),
}))
const proxied = { status: response.status, cors: response.headers.get('access-control-allow-origin'), cache: response.headers.get('cache-control'), body: await response.json() }

const redis = new Redis({ port: Number(process.env.REDIS_PORT), host: '127.0.0.1', maxRetriesPerRequest: 1 })
const tokens = createClientCredentials({ tokenEndpoint, clientId: 'backend', clientSecret: 'other', redis, log: () => {} })
const first = await tokens.getToken()
const again = await tokens.getToken()
const stored = JSON.parse(await redis.get('oauth-tabs:cc:backend:')).accessToken
redis.disconnect()
provider.close()
console.log(JSON.stringify({ proxied, clientCredentials: { first, again, stored }, upstream: seen }))
`,
  'globals.mjs': `const before = new Set(Object.getOwnPropertyNames(globalThis))
await import('oauth-tabs')
await import('oauth-tabs/server')
console.log(JSON.stringify(Object.getOwnPropertyNames(globalThis).filter((name) => !before.has(name))))
`,
  // Types: the server entry under Node's own resolution, with ioredis 6 as the Redis client.
  'server-types.ts': `import { createServer } from 'node:http'
import { Redis } from 'ioredis'
import { AuthError, createClientCredentials, createTokenProxy, toNodeHandler, type FetchHandler } from 'oauth-tabs/server'

const proxy: FetchHandler = createTokenProxy({ tokenEndpoint: 'https://id.example/token', clientId: 'a', clientSecret: 'b', allowedOrigins: ['https://app.example'], redirectUris: ['https://app.example/cb'] })
createServer(toNodeHandler(proxy))
const tokens = createClientCredentials({ tokenEndpoint: 'https://id.example/token', clientId: 'a', clientSecret: 'b', redis: new Redis({ lazyConnect: true }) })
export const token: Promise<string> = tokens.getToken().catch((err: unknown) => (err instanceof AuthError ? err.code : 'other'))
`,
  'tsconfig.json': JSON.stringify({
    compilerOptions: { target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', lib: ['es2022'], strict: true, noEmit: true, types: ['node'], skipLibCheck: true },
    include: ['server-types.ts'],
  }),
}

const react = {
  'index.html': `<!doctype html><meta charset="utf-8"><title>consumer react</title><div id="root"></div><script type="module" src="/main.ts"></script>`,
  // No JSX, so the app needs no React plugin: what is measured is the binding and React, nothing else.
  'main.ts': `import { createElement as h, StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import { createAuth } from 'oauth-tabs'
import { AuthProvider, useAuth } from 'oauth-tabs/react'

const auth = createAuth({ issuer: 'https://id.invalid', clientId: 'spa', redirectUri: location.origin + '/callback' })
function Status() {
  const { status } = useAuth()
  return h('output', { id: 'status' }, status)
}
createRoot(document.getElementById('root')!).render(h(StrictMode, null, h(AuthProvider, { client: auth }, h(Status))))
`,
}

beforeAll(async () => {
  work = tempDir('pack')
  if (!hasReact) console.warn(`package test, React app case: ${REACT_SKIP}`)
  ;({ tarball, unpacked, files } = await pack(work))
  app = join(work, 'app')
  const dependencies: Record<string, string> = { 'oauth-tabs': `file:${tarball}`, ioredis: '^6.0.0', '@types/node': '^20.19.0' }
  if (hasReact) Object.assign(dependencies, { react: '^19.0.0', 'react-dom': '^19.0.0' })
  writeFiles(app, { 'package.json': JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies }, null, 2) })
  writeFiles(join(app, 'vanilla'), vanilla)
  writeFiles(join(app, 'server'), server)
  if (hasReact) writeFiles(join(app, 'react'), react)
  await sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--no-package-lock'], app)
}, 120_000)

afterAll(async () => {
  await browser?.close().catch(() => {})
  removeDir(work)
})

/** Loads a built app in Chromium; returns what its page reported and every script it fetched. */
async function runInChromium(dist: string, read: () => unknown): Promise<{ result: unknown; scripts: string[] }> {
  browser ??= await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
  const site = await serveStatic(dist)
  const context = await browser.newContext()
  try {
    const scripts: string[] = []
    const foreign: string[] = []
    context.on('request', (req) => {
      const url = new URL(req.url())
      if (url.origin !== site.origin) foreign.push(req.url())
      else if (url.pathname.endsWith('.js')) scripts.push(url.pathname.slice(1))
    })
    await context.route((url) => url.hostname !== '127.0.0.1', (route) => route.abort())
    const page = await context.newPage()
    await page.goto(site.origin + '/')
    await page.waitForFunction(read, undefined, { timeout: 15_000 })
    const result = await page.evaluate(read)
    expect(foreign, 'a signed-out app touches no provider').toEqual([])
    return { result, scripts }
  } finally {
    await context.close()
    await site.close()
  }
}

describe('the packed tarball', () => {
  it('holds the entries, the license and nothing of the repo besides', () => {
    expect(files).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'CHANGELOG.md', 'package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/server/index.js', 'dist/server/index.d.ts', 'dist/server/cli.js']))
    const stray = files.filter((f) => !/^(dist|src)\//.test(f) && !['LICENSE', 'README.md', 'CHANGELOG.md', 'package.json'].includes(f))
    expect(stray).toEqual([])
    expect(files.filter((f) => /\.test\.|tsbuildinfo|^src\/.*\.js$/.test(f))).toEqual([])
    expect(statSync(join(unpacked, 'dist/server/cli.js')).mode & 0o111, 'the oauth-tabs-server bin is executable').not.toBe(0)
    expect(walk(unpacked).sort()).toEqual(files)
  })

  it('has source maps whose sources ship with it', () => {
    expect(files.some((f) => f.endsWith('.js.map')), 'maps are shipped (or drop this case with them)').toBe(true)
    expect(sourceMapProblems(unpacked, files)).toEqual([])
  })

  it('a fresh clone: npm install leaves package-lock.json unchanged', async () => {
    const clone = tempDir('lock')
    try {
      for (const f of ['package.json', 'package-lock.json']) copyFileSync(join(ROOT, f), join(clone, f))
      await sh('npm', ['install', '--package-lock-only', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], clone)
      const [after, before] = [join(clone, 'package-lock.json'), join(ROOT, 'package-lock.json')].map((f) => readFileSync(f, 'utf8'))
      expect(JSON.parse(after).packages[''], 'the root entry follows package.json').toEqual(JSON.parse(before).packages[''])
      expect(after === before, 'package-lock.json rewritten by npm install').toBe(true)
    } finally {
      removeDir(clone)
    }
  })
})

describe('a vanilla TypeScript vite app', () => {
  let bundle: ReturnType<typeof readBundle>
  let warnings: string

  beforeAll(async () => {
    const { stdout, stderr } = await viteBuild(join(app, 'vanilla'))
    warnings = stdout + stderr
    bundle = readBundle(join(app, 'vanilla'))
    const lazy = bundle.lazy.length ? `; lazy: ${bundle.lazy.map((c) => `${c.file} ${kB(c.gzip)}`).join(', ')}` : '; no lazy chunks'
    console.log(`consumer app (vanilla TS, vite build, gzip -9 per chunk): up front ${kB(sum(bundle.upFront))} in ${bundle.upFront.length} chunk(s)${lazy}`)
  }, 60_000)

  it('type-checks against the shipped declarations (strict, bundler resolution, skipLibCheck off)', async () => {
    await sh(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(app, 'vanilla')], app)
  })

  it('bundles createAuth and nothing of oauth-tabs/server or of node: modules', () => {
    const upFront = modulesOf(bundle.upFront)
    expect(upFront.some((m) => ours('client\\.(js|ts)$').test(m)), `createAuth's module in ${upFront.join(', ')}`).toBe(true)
    const all = [...bundle.upFront, ...bundle.lazy]
    expect(modulesOf(all).filter((m) => SERVER.test(m))).toEqual([])
    expect(all.filter((c) => NODE_IMPORT.test(c.code)).map((c) => c.file)).toEqual([])
    expect(warnings).not.toMatch(/externalized for browser compatibility|node:/)
  })

  it('keeps broadcast-channel out of the up-front chunks (the fallback is a lazy import)', () => {
    // Depends on the lazy fallback (branch g-tabs): broadcast-channel only behind an import().
    expect(modulesOf(bundle.upFront).filter((m) => BROADCAST_CHANNEL.test(m))).toEqual([])
  })

  it('runs createAuth in Chromium: a secret refused, a signed-out session read from IndexedDB, no provider request', async () => {
    const { result, scripts } = await runInChromium(join(app, 'vanilla/dist'), () => (window as unknown as { __result?: unknown }).__result)
    expect(result).toEqual({ secret: 'config', first: 'loading', settled: 'unauthenticated', token: 'login_required', locks: true })
    // With Web Locks and a native BroadcastChannel, nothing lazy is fetched.
    expect(scripts.sort()).toEqual(bundle.upFront.map((c) => c.file).sort())
  })
})

describe('oauth-tabs/server in plain Node', () => {
  it('type-checks under nodenext resolution with ioredis 6', async () => {
    await sh(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(app, 'server')], app)
  })

  it('answers a code exchange through the proxy and shares a client_credentials token through ioredis 6', async () => {
    const port = await freePort()
    const redis = await startRedis(port)
    try {
      const { stdout } = await sh(process.execPath, ['server.mjs'], join(app, 'server'), 30_000, { REDIS_PORT: String(port) })
      const out = JSON.parse(stdout)
      expect(out.proxied).toEqual({ status: 200, cors: 'https://app.example', cache: 'no-store', body: { access_token: 'at-1', token_type: 'Bearer', expires_in: 300 } })
      expect(out.upstream[0]).toEqual({
        path: '/token',
        authorization: `Basic ${Buffer.from('app:s3cret').toString('base64')}`,
        body: { grant_type: 'authorization_code', code: 'the-code', redirect_uri: 'https://app.example/callback', code_verifier: 'v'.repeat(43) },
      })
      expect(out.clientCredentials).toEqual({ first: 'at-2', again: 'at-2', stored: 'at-2' })
      expect(out.upstream).toHaveLength(2)
      const installed = JSON.parse(readFileSync(join(app, 'node_modules/ioredis/package.json'), 'utf8')).version as string
      expect(installed).toMatch(/^6\./)
    } finally {
      redis.stop()
    }
  })

  it('importing oauth-tabs and oauth-tabs/server in Node defines no globals', async () => {
    // Depends on the lazy fallback (branch g-tabs): broadcast-channel's bundle leaves `regeneratorRuntime`.
    const { stdout } = await sh(process.execPath, ['globals.mjs'], join(app, 'server'), 30_000)
    expect(JSON.parse(stdout)).toEqual([])
  })
})

describe('a React vite app', () => {
  it.skipIf(!hasReact)(`bundles and renders oauth-tabs/react${hasReact ? '' : ` [${REACT_SKIP}]`}`, async () => {
    const dir = join(app, 'react')
    const { stdout, stderr } = await viteBuild(dir)
    const bundle = readBundle(dir)
    const upFront = modulesOf(bundle.upFront)
    console.log(`consumer app (React, vite build, gzip -9): up front ${kB(sum(bundle.upFront))} in ${bundle.upFront.length} chunk(s); lazy ${kB(sum(bundle.lazy))}`)
    expect(upFront.some((m) => ours('react/').test(m))).toBe(true)
    expect(upFront.some((m) => ours('client\\.(js|ts)$').test(m))).toBe(true)
    expect(modulesOf([...bundle.upFront, ...bundle.lazy]).filter((m) => SERVER.test(m))).toEqual([])
    expect([...bundle.upFront, ...bundle.lazy].filter((c) => NODE_IMPORT.test(c.code)).map((c) => c.file)).toEqual([])
    expect(stdout + stderr).not.toMatch(/externalized for browser compatibility/)
    expect(upFront.filter((m) => BROADCAST_CHANNEL.test(m))).toEqual([])
    const { result } = await runInChromium(join(dir, 'dist'), () => {
      const text = document.getElementById('status')?.textContent
      return text && text !== 'loading' ? text : undefined
    })
    expect(result).toBe('unauthenticated')
  })
})

// Every request to a bare `createServer(toNodeHandler(proxy))`, and to `oauth-tabs-server`, gets
// an HTTP answer, and the process survives: a bounded fuzz over raw TCP (node:net).
import { fork, spawn, type ChildProcess } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { APP, fakeUpstream, SECRET } from './helpers.js'
import { fixedProbes, randomProbes, send, type Probe } from './raw-fuzz.js'
import { freePort } from '../free-port.js'

const RANDOM = 150

let upstream: Awaited<ReturnType<typeof fakeUpstream>>
beforeAll(async () => {
  upstream = await fakeUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ access_token: 'at', token_type: 'Bearer', expires_in: 60 }))
  })
})
afterAll(() => upstream?.close())

interface Target {
  start(): Promise<number>
  alive(): boolean
  stop(): void
}

/** Runs every probe; restarts the target if a probe killed it, and counts what held. */
async function fuzz(target: Target, probes: Probe[]) {
  let port = await target.start()
  const failures: string[] = []
  let crashes = 0
  let held = 0
  for (const probe of probes) {
    const { status } = await send(port, probe)
    await new Promise((r) => setTimeout(r, 10))
    const alive = target.alive()
    const answered = probe.abort || (status !== undefined && (probe.status === undefined || status === probe.status))
    if (alive && answered) held++
    else failures.push(`${probe.name}: ${alive ? `status ${status ?? 'none'}${probe.status ? `, wanted ${probe.status}` : ''}` : 'process died'}`)
    if (!alive) {
      crashes++
      port = await target.start()
    }
  }
  return { port, failures, crashes, held }
}

const normalRequest = (port: number, prefix = '') =>
  fetch(`http://127.0.0.1:${port}${prefix}/oauth/token`, {
    method: 'POST',
    headers: { origin: APP, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'rt' }),
  })

describe('bare createServer(toNodeHandler(proxy)) in its own process', () => {
  let child: ChildProcess | undefined
  // Every process started (a probe may kill one and the run starts another): all are stopped.
  const all = new Set<ChildProcess>()
  const logs: string[] = []
  const target: Target = {
    start: () =>
      new Promise((resolve) => {
        child = fork(new URL('./bare-server.mjs', import.meta.url).pathname, { env: { ...process.env, TOKEN_ENDPOINT: `${upstream.url}/token`, SECRET }, stdio: ['ignore', 'ignore', 'ignore', 'ipc'] })
        all.add(child)
        child.on('message', (m: { port?: number; log?: string }) => {
          if (m.port) resolve(m.port)
          if (m.log) logs.push(m.log)
        })
      }),
    alive: () => child?.exitCode === null && child.signalCode === null,
    stop: () => {
      for (const c of all) c.kill()
    },
  }
  afterAll(() => target.stop())

  it(`${fixedProbes().length} fixed + ${RANDOM} random probes: each answered, no crash; then a normal request works`, async () => {
    const probes = [...fixedProbes(), ...randomProbes(RANDOM)]
    const { port, failures, crashes, held } = await fuzz(target, probes)
    console.log(`bare mount: ${held} of ${probes.length} probes held, ${crashes} crashes`)
    expect(failures).toEqual([])
    expect(crashes).toBe(0)
    const ok = await normalRequest(port)
    expect(ok.status).toBe(200)
    expect(await ok.json()).toMatchObject({ access_token: 'at' })
    // Log lines stay one line each, with no control characters from the requests.
    expect(logs.length).toBeGreaterThan(0)
    // eslint-disable-next-line no-control-regex -- finding control characters is the point
    for (const line of logs) expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/)
    expect(logs.join('\n')).toContain('grant_type \\u000d\\u000aFAKE LOG\\u001b[31m')
  })

  it('CONNECT: Node closes the connection itself (no listener can answer it), and the process lives on', async () => {
    const port = await target.start()
    const { status } = await send(port, { name: 'CONNECT', bytes: Buffer.from('CONNECT evil.example:443 HTTP/1.1\r\nhost: evil.example:443\r\n\r\n') })
    expect(status).toBeUndefined()
    expect(target.alive()).toBe(true)
    expect((await normalRequest(port)).status).toBe(200)
  })
})

describe('oauth-tabs-server (the CLI)', () => {
  let child: ChildProcess | undefined
  // Every process started (a probe may kill one and the run starts another): all are stopped.
  const all = new Set<ChildProcess>()
  const target: Target = {
    start: async () => {
      const port = await freePort()
      child = spawn(process.execPath, ['dist/server/cli.js'], {
        env: { ...process.env, PORT: String(port), OAUTH_TOKEN_ENDPOINT: `${upstream.url}/token`, OAUTH_CLIENT_ID: 'confidential', OAUTH_CLIENT_SECRET: SECRET, OAUTH_ALLOWED_ORIGINS: APP, OAUTH_REDIRECT_URIS: `${APP}/callback` },
        stdio: ['ignore', 'pipe', 'ignore'],
      })
      all.add(child)
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no start within 5 s')), 5000)
        child!.stdout!.on('data', (chunk) => {
          if (String(chunk).includes('token proxy on')) {
            clearTimeout(timer)
            resolve()
          }
        })
      })
      return port
    },
    alive: () => child?.exitCode === null && child.signalCode === null,
    stop: () => {
      for (const c of all) c.kill()
    },
  }
  afterAll(() => target.stop())

  it('the fixed probes and CONNECT: each answered, no crash; then a normal request works', async () => {
    const probes = [...fixedProbes(), { name: 'CONNECT', bytes: Buffer.from('CONNECT evil.example:443 HTTP/1.1\r\nhost: evil.example:443\r\n\r\n'), status: 405 }]
    const { port, failures, crashes, held } = await fuzz(target, probes)
    console.log(`CLI: ${held} of ${probes.length} probes held, ${crashes} crashes`)
    expect(failures).toEqual([])
    expect(crashes).toBe(0)
    expect((await normalRequest(port)).status).toBe(200)
  })
})

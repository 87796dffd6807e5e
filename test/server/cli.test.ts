import { spawn } from 'node:child_process'
import { afterAll, expect, it } from 'vitest'
import { APP, fakeUpstream, SECRET } from './helpers.js'
import { freePort } from '../free-port.js'


const stops: (() => unknown)[] = []
afterAll(async () => {
  for (const stop of stops) await stop()
})

it('npx oauth-tabs-server: the proxy as a process configured by environment', async () => {
  const upstream = await fakeUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ access_token: 'at', token_type: 'Bearer', expires_in: 60 }))
  })
  stops.push(upstream.close)
  const port = await freePort()
  const child = spawn(process.execPath, ['dist/server/cli.js'], {
    env: {
      ...process.env,
      PORT: String(port),
      OAUTH_TOKEN_ENDPOINT: `${upstream.url}/token`,
      OAUTH_CLIENT_ID: 'confidential',
      OAUTH_CLIENT_SECRET: SECRET,
      OAUTH_ALLOWED_ORIGINS: APP,
      OAUTH_REDIRECT_URIS: `${APP}/callback`,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  stops.push(() => child.kill())
  let output = ''
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start within 5 s: ${output}`)), 5000)
    child.stdout!.on('data', (chunk) => {
      output += chunk
      if (output.includes('token proxy on')) {
        clearTimeout(timer)
        resolve()
      }
    })
  })
  const post = (origin: string) =>
    fetch(`http://127.0.0.1:${port}/oauth/token`, {
      method: 'POST',
      headers: { origin, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'rt', client_id: 'confidential' }),
    })
  const ok = await post(APP)
  expect(ok.status).toBe(200)
  expect(await ok.json()).toMatchObject({ access_token: 'at' })
  expect(upstream.received[0].headers.authorization).toMatch(/^Basic /)
  expect((await post('https://evil.example')).status).toBe(403)
  expect(upstream.received).toHaveLength(1)
})

it.each([
  ['PORT', 'abc', /PORT must be a port number/],
  ['OAUTH_CLIENT_AUTH', 'client_secret_jwt', /OAUTH_CLIENT_AUTH/],
  ['OAUTH_ALLOWED_ORIGINS', 'app.example.com', /OAUTH_ALLOWED_ORIGINS/],
  ['OAUTH_TOKEN_ENDPOINT', 'http://op.example/token', /OAUTH_TOKEN_ENDPOINT/],
  ['OAUTH_PROXY_PATH', 'oauth\u001b[2J', /OAUTH_PROXY_PATH must be a path.*\\u001b/],
  ['OAUTH_TIMEOUT', '-1', /OAUTH_TIMEOUT/],
])('a bad %s stops it at start with one line naming the variable (exit 1, no stack)', async (name, value, message) => {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: '0', OAUTH_TOKEN_ENDPOINT: 'https://op.example/token', OAUTH_CLIENT_ID: 'confidential', OAUTH_CLIENT_SECRET: SECRET, OAUTH_ALLOWED_ORIGINS: APP, OAUTH_REDIRECT_URIS: `${APP}/callback`, [name]: value }
  const child = spawn(process.execPath, ['dist/server/cli.js'], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  stops.push(() => child.kill())
  let stderr = ''
  child.stderr!.on('data', (chunk) => (stderr += chunk))
  const code = await new Promise((resolve) => child.on('exit', resolve))
  expect(code).toBe(1)
  expect(stderr).toMatch(message)
  expect(stderr.trim().split('\n')).toHaveLength(1)
  expect(stderr).not.toContain(SECRET)
})

import { spawn, type ChildProcess } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../free-port.js'

// `npm run provider`: the demo's provider alone, for a newcomer's own app (README, "The demo").
describe('npm run provider (demo/serve-provider.js)', () => {
  let child: ChildProcess
  let issuer = ''
  const app = 'http://127.0.0.1:5999'
  beforeAll(async () => {
    const port = await freePort()
    child = spawn(process.execPath, ['demo/serve-provider.js'], { env: { ...process.env, OP_PORT: String(port), APP_ORIGINS: app }, stdio: ['ignore', 'pipe', 'ignore'] })
    issuer = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no start within 10 s')), 10_000)
      child.stdout!.on('data', (chunk: Buffer) => {
        const found = /OpenID Provider on (\S+)/.exec(String(chunk))
        if (found) {
          clearTimeout(timer)
          resolve(found[1])
        }
      })
    })
  })
  afterAll(() => {
    child?.kill()
  })

  const authorize = (redirectUri: string) =>
    fetch(
      `${issuer}/auth?${new URLSearchParams({ client_id: 'demo-spa', redirect_uri: redirectUri, response_type: 'code', scope: 'openid', state: 's', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' })}`,
      { redirect: 'manual' },
    )

  it('registers <origin>/callback of APP_ORIGINS for the public client demo-spa', async () => {
    const response = await authorize(`${app}/callback`)
    expect(response.status).toBe(303)
    expect(response.headers.get('location')).toMatch(/\/interaction\//)
  })

  it('refuses any other redirect URI', async () => {
    const response = await authorize('http://127.0.0.1:6000/callback')
    expect(response.status).toBe(400)
  })
})

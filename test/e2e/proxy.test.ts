import type { BrowserContext } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTokenProxy, toNodeHandler } from '../../dist/server/index.js'
import { callApi, login, openTab, skipAhead, startStack, state, storedTokens, type Stack } from './harness.js'

const SECRET = 'e2e-confidential-secret-51ac'

// Issue C end to end: a provider client that requires a secret, reached through oauth-tabs/server.
describe('login through the token proxy (confidential client) in a real browser', () => {
  let stack: Stack
  let context: BrowserContext
  const proxyLog: string[] = []
  beforeAll(async () => {
    const mounted: { handle?: ReturnType<typeof toNodeHandler> } = {}
    stack = await startStack({
      confidential: { clientId: 'demo-confidential', clientSecret: SECRET },
      page: { clientId: 'demo-confidential', tokenProxy: '/api/oauth' },
      routes: (req, res) => {
        if (!req.url?.startsWith('/api/oauth/')) return false
        mounted.handle!(req, res)
        return true
      },
    })
    mounted.handle = toNodeHandler(
      createTokenProxy({
        issuer: stack.op.issuer,
        clientId: 'demo-confidential',
        clientSecret: SECRET,
        allowedOrigins: [stack.appOrigin],
        redirectUris: [`${stack.appOrigin}/callback`],
        log: (line) => proxyLog.push(line),
      }),
    )
    context = await stack.newContext()
  })
  afterAll(async () => {
    await stack?.stop()
  })

  it('logs in, refreshes and revokes through the proxy; the secret never reaches the browser', async () => {
    const page = await openTab(context, stack)
    const seen: string[] = []
    page.on('response', async (r) => {
      if (r.url().includes('/api/oauth/')) seen.push(`${r.request().method()} ${new URL(r.url()).pathname} ${r.status()}`)
    })
    await login(page, stack, 'linus')
    expect((await state(page)).user).toMatchObject({ sub: 'linus' })
    expect(stack.op.stats.grants.authorization_code).toBe(1)
    expect(seen).toEqual(['POST /api/oauth/token 200'])
    expect(await callApi(page)).toBe(200)

    await skipAhead(page, 31_000)
    expect(await callApi(page)).toBe(200)
    expect(stack.op.stats.grants.refresh_token).toBe(1)
    expect(seen.at(-1)).toBe('POST /api/oauth/token 200')

    const { refreshToken } = await storedTokens(page)
    await page.evaluate(() => (window as any).auth.logout())
    expect(seen.at(-1)).toBe('POST /api/oauth/revoke 200')
    expect(stack.op.stats.revocations).toBe(1)
    // The provider no longer honours it, even asked through the proxy with the secret.
    const again = await fetch(`${stack.appOrigin}/api/oauth/token`, {
      method: 'POST',
      headers: { origin: stack.appOrigin, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'demo-confidential' }),
    })
    expect(again.status).toBe(400)
    expect(await again.json()).toMatchObject({ error: 'invalid_grant' })
    expect(stack.op.stats.grantErrors.at(-1)).toMatchObject({ grant_type: 'refresh_token', detail: 'refresh token not found' })

    const html = await page.content()
    const scripts = await page.evaluate(() => fetch('/app.js').then((r) => r.text()))
    expect(html + scripts).not.toContain(SECRET)
    expect(proxyLog.join('\n')).not.toContain(SECRET)
  })
})

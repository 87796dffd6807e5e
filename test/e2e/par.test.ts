import type { BrowserContext, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { callApi, login, openTab, startStack, state, storedTokens, type Stack } from './harness.js'

// Pushed authorization requests (RFC 9126) against the real oidc-provider in real Chromium: the
// authorization request goes to the PAR endpoint first, and the browser's address bar only ever
// carries client_id and the request_uri the provider handed back.

/** Every navigation of `page` to the provider's authorization endpoint, as sent. */
function authorizationUrls(page: Page, stack: Stack): URL[] {
  const urls: URL[] = []
  page.on('request', (request) => {
    const url = new URL(request.url())
    if (request.isNavigationRequest() && url.origin === stack.op.issuer && url.pathname === '/auth') urls.push(url)
  })
  return urls
}

/** Asserts that the authorization URL is a PAR one: client_id and request_uri, nothing else. */
function expectPushed(url: URL) {
  expect([...url.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri'])
  expect(url.searchParams.get('client_id')).toBe('demo-spa')
  expect(url.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/)
}

/** The provider refuses a front-channel (unpushed) authorization request of demo-spa: PAR is really required. */
async function frontChannelRefused(stack: Stack): Promise<string | null> {
  const params = new URLSearchParams({ client_id: 'demo-spa', response_type: 'code', scope: 'openid', redirect_uri: `${stack.appOrigin}/callback`, code_challenge: 'x'.repeat(43), code_challenge_method: 'S256', state: 's' })
  const response = await fetch(`${stack.op.issuer}/auth?${params}`, { redirect: 'manual' })
  return new URL(response.headers.get('location') ?? 'about:blank').searchParams.get('error_description')
}

describe('PAR (pushedAuthorization: true)', () => {
  let stack: Stack
  let context: BrowserContext | undefined
  beforeAll(async () => {
    stack = await startStack({ page: { pushedAuthorization: true } })
  })
  afterEach(async () => {
    await context?.close()
    context = undefined
  })
  afterAll(async () => {
    await stack?.stop()
  })

  it('pushes the request; the authorization URL carries client_id and request_uri only; login completes', async () => {
    context = await stack.newContext()
    const page = await openTab(context, stack)
    const urls = authorizationUrls(page, stack)
    stack.op.resetStats()
    await login(page, stack)
    expect(urls).toHaveLength(1)
    expectPushed(urls[0])
    expect(stack.op.stats.requests['/request']).toBe(1)
    expect(stack.op.stats.grants.authorization_code).toBe(1)
    expect((await state(page)).status).toBe('authenticated')
    expect((await storedTokens(page)).refreshToken).toEqual(expect.any(String))
    expect(await callApi(page)).toBe(200)
  })

  it('a PAR endpoint refusal is a typed AuthError in the page, with no navigation to the provider', async () => {
    context = await stack.newContext()
    const page = await openTab(context, stack)
    const urls = authorizationUrls(page, stack)
    // A prompt value oidc-provider does not support: refused at the PAR endpoint (400 invalid_request).
    const outcome = await page.evaluate(() =>
      (window as any).auth.login({ params: { prompt: 'bogus' } }).then(
        () => ({ ok: true }),
        (err: any) => ({ name: err.name, code: err.code, error: err.error, status: err.status }),
      ),
    )
    expect(outcome).toEqual({ name: 'AuthError', code: 'invalid_response', error: 'invalid_request', status: 400 })
    expect(urls).toEqual([])
    expect(new URL(page.url()).origin).toBe(stack.appOrigin)
    expect((await state(page)).status).toBe('unauthenticated')
  })
})

describe('PAR required by the provider (require_pushed_authorization_requests in discovery)', () => {
  let stack: Stack
  beforeAll(async () => {
    // No pushedAuthorization option in the page: the library reads the metadata.
    stack = await startStack({ provider: { par: { require: true } } })
  })
  afterAll(async () => {
    await stack?.stop()
  })

  it('uses PAR without the option, and login completes', async () => {
    expect(await frontChannelRefused(stack)).toMatch(/pushed authorization request must be used/i)
    const context = await stack.newContext()
    const page = await openTab(context, stack)
    const urls = authorizationUrls(page, stack)
    await login(page, stack)
    expect(urls).toHaveLength(1)
    expectPushed(urls[0])
    expect(stack.op.stats.requests['/request']).toBe(1)
    expect(await callApi(page)).toBe(200)
    await context.close()
  })
})

describe('PAR required for the client only (not in discovery)', () => {
  let stack: Stack
  beforeAll(async () => {
    stack = await startStack({ provider: { par: { requireForClient: true } }, page: { pushedAuthorization: true } })
  })
  afterAll(async () => {
    await stack?.stop()
  })

  it('the option is what makes login work', async () => {
    expect(await frontChannelRefused(stack)).toMatch(/pushed authorization request must be used/i)
    const context = await stack.newContext()
    const page = await openTab(context, stack)
    const urls = authorizationUrls(page, stack)
    await login(page, stack)
    expectPushed(urls[0])
    expect((await state(page)).status).toBe('authenticated')
    await context.close()
  })
})

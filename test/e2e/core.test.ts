import type { BrowserContext } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { callApi, login, openTab, presentRefreshToken, startStack, state, storedTokens, until, type Stack } from './harness.js'

// Issue A end to end: real Chromium, real oidc-provider, the built package.
describe('login, API, refresh, reload, logout in a real browser', () => {
  let stack: Stack
  let context: BrowserContext
  beforeAll(async () => {
    stack = await startStack({ accessTokenTtl: 8, page: { refreshSkew: 2, postLogoutRedirectUri: undefined } })
    context = await stack.newContext()
  })
  afterAll(async () => {
    await stack?.stop()
  })

  it('logs in through the provider, lands signed in with a clean URL, and calls the API', async () => {
    const page = await openTab(context, stack, '/inbox?folder=2')
    expect((await state(page)).status).toBe('unauthenticated')
    await login(page, stack, 'ada')
    const s = await state(page)
    expect(s.status).toBe('authenticated')
    // name and email are UserInfo claims (the provider keeps them out of the ID token): userinfo.test.ts.
    expect(s.user).toMatchObject({ sub: 'ada' })
    // returnTo carried across the redirect; code, state and iss gone from the address bar.
    expect(new URL(page.url()).pathname).toBe('/inbox')
    expect(await page.evaluate(() => (window as any).callbackUrl)).not.toMatch(/[?&](code|state|iss)=/)
    expect(await page.evaluate(() => history.length)).toBeGreaterThan(0)
    expect(await callApi(page)).toBe(200)
    expect(stack.op.stats.grants.authorization_code).toBe(1)
    // Nothing secret outside IndexedDB.
    const leaks = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie)
    expect(leaks).not.toMatch(/eyJ|refresh/i)
    await page.close()
  })

  it('refreshes after the access-token lifetime and keeps calling the API', async () => {
    const page = await openTab(context, stack)
    const before = (await state(page)).expiresAt!
    // 8 s tokens, refreshSkew 2 s: the timer refreshes about 6 s after login (5 s at the earliest).
    await until(async () => (stack.op.stats.grants.refresh_token ?? 0) >= 1, 15_000, 'a refresh grant')
    await until(async () => (await state(page)).expiresAt! > before, 5000, 'the new expiry in the tab')
    expect(await callApi(page)).toBe(200)
    expect(stack.op.stats.grantErrors).toEqual([])
    await page.close()
  })

  it('makes no provider request on a warm reload before the first API call', async () => {
    const page = await openTab(context, stack)
    stack.op.resetStats()
    await page.reload()
    expect(await page.evaluate(() => (window as any).ready)).toBe('authenticated')
    // Count at the provider: no discovery, no token request, nothing.
    expect(stack.op.stats.requests).toEqual({})
    expect(await callApi(page)).toBe(200)
    // The API's own check (userinfo) is the only provider traffic.
    expect(Object.keys(stack.op.stats.requests)).toEqual(['/me'])
    await page.close()
  })

  it('logs out: revokes the refresh token at the provider and signs out every tab', async () => {
    const a = await openTab(context, stack)
    const b = await openTab(context, stack)
    expect((await state(b)).status).toBe('authenticated')
    const { refreshToken } = await storedTokens(a)
    stack.op.resetStats()
    await a.evaluate(() => (window as any).auth.logout())
    expect(stack.op.stats.requests['/token/revocation']).toBe(1)
    expect(stack.op.stats.revocations).toBe(1)
    // The provider no longer honours it.
    expect(await presentRefreshToken(stack, refreshToken)).toEqual({ status: 400, error: 'invalid_grant' })
    expect(await storedTokens(a)).toBeUndefined()
    expect((await state(a)).status).toBe('unauthenticated')
    await until(async () => (await state(b)).status === 'unauthenticated', 1000, 'tab b signed out')
    expect(await callApi(b)).toBe('login_required')
  })
})

import type { BrowserContext } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { callApi, login, openTab, skipAhead, startStack, signedInTabs, state, storm, until, type Stack } from './harness.js'

// Issue B end to end: tabs are pages of one browser context (shared IndexedDB, locks,
// BroadcastChannel); the provider rotates refresh tokens and revokes the grant on reuse.
// Grants are counted from the provider's events, never inferred from timing.

function expectNoReuse(stack: Stack) {
  expect(stack.op.stats.grantErrors).toEqual([])
  expect(stack.op.stats.revokedGrants).toBe(0)
}

describe('tabs that agree (real Chromium, rotating refresh tokens)', () => {
  let stack: Stack
  let context: BrowserContext | undefined
  beforeAll(async () => {
    stack = await startStack({ accessTokenTtl: 30 })
  })
  afterEach(async () => {
    await context?.close()
    context = undefined
    stack.op.setTokenDelay(0)
    stack.op.setTokenFault(undefined)
    stack.op.loseTokenResponses(0)
  })
  afterAll(async () => {
    await stack?.stop()
  })

  for (const noLocks of [false, true]) {
    it(`storm${noLocks ? ' without navigator.locks (leader-election fallback)' : ''}: 10 tabs x 20 calls on an expired token -> exactly 1 refresh grant`, async () => {
      context = await stack.newContext({ noLocks })
      const tabs = await signedInTabs(context, stack, 10)
      if (noLocks) expect(await tabs[0].evaluate(() => typeof navigator.locks)).toBe('undefined')
      stack.op.resetStats()
      // A real network's latency, so that races loopback hides can show.
      stack.op.setTokenDelay(100)
      // Every tab's clock passes the 30 s lifetime (timers do not fire: the calls find it expired).
      for (const tab of tabs) await skipAhead(tab, 31_000)
      const results = await storm(tabs, 20)
      expect(results).toHaveLength(200)
      expect(results.every((r) => r === 200)).toBe(true)
      expect(stack.op.stats.grants.refresh_token).toBe(1)
      expectNoReuse(stack)
      const states = await Promise.all(tabs.map(state))
      expect(states.every((s) => s.status === 'authenticated')).toBe(true)
      expect(new Set(states.map((s) => s.expiresAt)).size).toBe(1)
    })
  }

  it('lock holder closed while its token request is in flight (request never reached the provider) -> the others recover, nobody logged out', async () => {
    context = await stack.newContext()
    const [holder, ...others] = await signedInTabs(context, stack, 3)
    stack.op.resetStats()
    // The token endpoint is slow; a request whose tab went away meanwhile is dropped unprocessed.
    stack.op.setTokenFault(async (ctx: any) => {
      await new Promise((r) => setTimeout(r, 1500))
      return ctx.req.socket.destroyed
    })
    await skipAhead(holder, 31_000)
    void holder.evaluate(() => (window as any).auth.getAccessToken()).catch(() => {})
    await until(() => (stack.op.stats.requests['/token'] ?? 0) === 1, 5000, 'the holder\'s token request')
    for (const tab of others) await skipAhead(tab, 31_000)
    const waiting = others.map((tab) => callApi(tab))
    await holder.close()
    expect(await Promise.all(waiting)).toEqual([200, 200])
    expect(stack.op.stats.grants.refresh_token).toBe(1)
    expectNoReuse(stack)
    for (const tab of others) expect((await state(tab)).status).toBe('authenticated')
  })

  it('the remaining hazard: the provider consumed the refresh token but the response was lost -> every tab gets login_required, once', async () => {
    context = await stack.newContext()
    const tabs = await signedInTabs(context, stack, 3)
    stack.op.resetStats()
    stack.op.loseTokenResponses(1)
    for (const tab of tabs) await skipAhead(tab, 31_000)
    const results = await Promise.all(tabs.map((tab) => callApi(tab)))
    // The lock holder saw a network error and tried again with the only refresh token it has,
    // which the provider had consumed: it revokes the grant (reuse detection). The tabs end the
    // session cleanly, once, instead of looping.
    expect(results).toEqual(['login_required', 'login_required', 'login_required'])
    expect(stack.op.stats.grants.refresh_token).toBe(1)
    expect(stack.op.stats.grantErrors.map((e) => e.detail)).toEqual(['refresh token already used'])
    expect(stack.op.stats.revokedGrants).toBe(1)
    for (const tab of tabs) expect((await state(tab)).status).toBe('unauthenticated')
    expect(stack.op.stats.requests['/token']).toBe(2)
  })

  it('login and logout in one tab show in the others without a reload', async () => {
    context = await stack.newContext()
    const a = await openTab(context, stack)
    const b = await openTab(context, stack)
    expect((await state(b)).status).toBe('unauthenticated')
    await login(a, stack, 'grace')
    await until(async () => (await state(b)).status === 'authenticated', 1000, 'b signed in')
    expect((await state(b)).user).toMatchObject({ sub: 'grace' })
    expect(await callApi(b)).toBe(200)
    const requests = stack.op.stats.requests['/token'] ?? 0
    await a.evaluate(() => (window as any).auth.logout())
    await until(async () => (await state(b)).status === 'unauthenticated', 1000, 'b signed out within a second')
    // b's timers stopped: nothing more reaches the token endpoint from it.
    await skipAhead(b, 60_000)
    expect(await callApi(b)).toBe('login_required')
    expect(stack.op.stats.requests['/token'] ?? 0).toBe(requests)
  })
})

describe('steady load (real Chromium)', () => {
  let stack: Stack
  beforeAll(async () => {
    // 6 s access tokens, refreshSkew 1 s: a refresh every 5 s.
    stack = await startStack({ accessTokenTtl: 6, page: { refreshSkew: 1 } })
  })
  afterAll(async () => {
    await stack?.stop()
  })

  it('5 tabs calling the API every second across 3 lifetimes: one refresh per interval, no failures', async () => {
    const context = await stack.newContext()
    const tabs = await signedInTabs(context, stack, 5)
    stack.op.resetStats()
    const seconds = 18
    const started = Date.now()
    const results = await Promise.all(
      tabs.map((tab) =>
        tab.evaluate(async (n) => {
          const out: (number | string)[] = []
          for (let i = 0; i < n; i++) {
            out.push(await (window as any).callApi())
            await new Promise((r) => setTimeout(r, 1000))
          }
          return out
        }, seconds),
      ),
    )
    expect(results.flat().filter((r) => r !== 200)).toEqual([])
    // One refresh per interval across all five tabs (timers in every tab, one request): the
    // interval is 5 s (refreshAt), and never more than the 6 s lifetime, measured on this run's clock.
    const elapsed = Date.now() - started
    const grants = stack.op.stats.grants.refresh_token ?? 0
    expect(grants).toBeGreaterThanOrEqual(Math.floor(elapsed / 6000))
    expect(grants).toBeLessThanOrEqual(Math.ceil(elapsed / 5000))
    expectNoReuse(stack)
    await context.close()
  })
})

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { login, openTab, startStack, state, storedTokens, type Stack } from './harness.js'

/** The payload of a JWT, decoded without checking it (the client already did). */
const payload = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()) as Record<string, unknown>

// Issue E, user info: the demo provider is oidc-provider with its default (spec-conformant) claims
// placement: with an access token issued, `name` and `email` go to UserInfo only, never into the ID
// token. `userInfo: true` is what brings them into `state.user`.
describe.each([
  ['with userInfo: true', true],
  ['without userInfo', false],
])('profile claims %s', (_, userInfo) => {
  let stack: Stack
  beforeAll(async () => {
    stack = await startStack({ page: userInfo ? { userInfo: true } : {} })
  })
  afterAll(async () => {
    await stack?.stop()
  })

  it(userInfo ? 'come from the UserInfo endpoint, not the ID token' : 'are absent: the ID token lacks them', async () => {
    const context = await stack.newContext()
    const page = await openTab(context, stack)
    const userinfoCalls = stack.op.stats.requests['/me'] ?? 0
    await login(page, stack, 'grace')
    const stored = await storedTokens(page)
    // The ID token itself: sub, and no profile claims (scope asked for profile and email).
    const idToken = payload(stored.idToken)
    expect(idToken.sub).toBe('grace')
    expect(idToken).not.toHaveProperty('name')
    expect(idToken).not.toHaveProperty('email')
    const { status, user } = await state(page)
    expect(status).toBe('authenticated')
    if (userInfo) {
      expect(user).toMatchObject({ sub: 'grace', name: 'Grace', email: 'grace@example.test' })
      // Stored apart from the ID token's claims (which the refresh checks compare against).
      expect(stored.userInfo).toMatchObject({ sub: 'grace', name: 'Grace', email: 'grace@example.test' })
      expect(stored.user).not.toHaveProperty('name')
      expect((stack.op.stats.requests['/me'] ?? 0) - userinfoCalls).toBe(1)
    } else {
      expect(user?.sub).toBe('grace')
      expect(user).not.toHaveProperty('name')
      expect(user).not.toHaveProperty('email')
      expect(stack.op.stats.requests['/me'] ?? 0).toBe(userinfoCalls)
    }
    // Another tab reads the same user from storage without asking UserInfo again.
    const other = await openTab(context, stack)
    expect((await state(other)).user).toEqual(user)
    expect(stack.op.stats.requests['/me'] ?? 0).toBe(userinfoCalls + (userInfo ? 1 : 0))
    await context.close()
  })
})

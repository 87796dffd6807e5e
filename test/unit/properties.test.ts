import fc from 'fast-check'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { AuthError, createAuth, type AuthOptions } from '../../src/index.js'
import { APP, fakeProvider, installFakeLocks, logIn, openTab, startLogin } from './helpers.js'

beforeEach(() => {
  installFakeLocks()
})

const anything = fc.oneof(fc.string(), fc.webUrl(), fc.constantFrom('https://op.example', 'http://127.0.0.1:1', '*', ''), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constant(undefined), fc.array(fc.string(), { maxLength: 3 }), fc.object())

describe('properties', () => {
  it('config: any options either make a client or throw AuthError("config")', { timeout: 120_000 }, () => {
    fc.assert(
      fc.property(fc.record({ issuer: anything, clientId: anything, redirectUri: anything, scope: anything, apiOrigins: anything, refreshSkew: anything, name: anything, storage: anything, lockTimeout: anything, postLogoutRedirectUri: anything }, { requiredKeys: [] }), (options) => {
        try {
          createAuth(options as unknown as AuthOptions).close()
        } catch (err) {
          expect(err).toBeInstanceOf(AuthError)
          expect((err as AuthError).code).toBe('config')
        }
      }),
      { numRuns: Number(process.env.FC_RUNS ?? 500) },
    )
  })

  it('callbacks: any query on the redirect URI throws only AuthError, sends no token request without the pending state, and never touches the session', async () => {
    const op = fakeProvider()
    const auth = openTab(op)
    await logIn(auth, op)
    const token = await auth.getAccessToken()
    const pendingState = new URL(await startLogin(auth)).searchParams.get('state')!
    const exchanges = () => op.requests('/token', 'authorization_code').length
    const key = fc.constantFrom('code', 'state', 'iss', 'error', 'error_description', 'session_state', 'x')
    const value = fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('', 'access_denied', 'https://op.example', 'https://evil.example'), fc.string({ minLength: 600, maxLength: 700 }))
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(key, value), { maxLength: 8 }), fc.string({ maxLength: 20 }), async (pairs, fragment) => {
        const url = new URL(`${APP}/callback`)
        for (const [k, v] of pairs) url.searchParams.append(k, v)
        url.hash = fragment
        const before = exchanges()
        try {
          await auth.handleRedirect(url.href)
        } catch (err) {
          expect(err).toBeInstanceOf(AuthError)
        }
        // Only the one pending state can ever reach the token endpoint.
        if (!url.searchParams.getAll('state').includes(pendingState)) expect(exchanges()).toBe(before)
        expect(await auth.getAccessToken()).toBe(token)
      }),
      { numRuns: 300 },
    )
  })

  it('token responses: any refresh answer either yields a valid new token or an AuthError, and the stored set stays usable', async () => {
    let answer: { status: number; body: string; type: string } = { status: 200, body: '{}', type: 'application/json' }
    const op = fakeProvider({
      expiresIn: 0,
      token: (p) => (p.get('grant_type') === 'refresh_token' ? new Response(answer.body, { status: answer.status, headers: { 'content-type': answer.type } }) : undefined),
    })
    const auth = openTab(op)
    await logIn(auth, op)
    vi.spyOn(Math, 'random').mockReturnValue(0) // no backoff waits
    const body = fc.oneof(
      fc.json(),
      fc.string(),
      fc.record({ access_token: fc.oneof(fc.string(), fc.integer()), token_type: fc.constantFrom('Bearer', 'bearer', 'mac', 'DPoP', ''), expires_in: fc.oneof(fc.integer(), fc.string(), fc.constant(undefined)), refresh_token: fc.oneof(fc.string(), fc.constant(undefined)) }, { requiredKeys: [] }).map((o) => JSON.stringify(o)),
    )
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(200, 400, 401, 404, 500, 502), body, fc.constantFrom('application/json', 'text/html', 'text/plain'), async (status, text, type) => {
        answer = { status, body: text, type }
        let token: string | undefined
        try {
          token = await auth.getAccessToken()
        } catch (err) {
          expect(err).toBeInstanceOf(AuthError)
        }
        if (token !== undefined) expect(typeof token).toBe('string')
        // Whatever came back, what this tab holds is a well-formed set or nothing (invalid_grant).
        const state = auth.getState()
        expect(['authenticated', 'unauthenticated']).toContain(state.status)
        if (state.status === 'unauthenticated') await logIn(auth, op)
      }),
      { numRuns: 40 },
    )
  }, 60_000)
})

import { generateKeyPairSync } from 'node:crypto'
import type { BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startProvider } from '../../demo/provider.js'
import { callApi, login, openTab, startStack, state, storedTokens, type Stack } from './harness.js'

/** A private RS256 signing key as oidc-provider takes it. */
const signingKey = (kid: string) => ({ ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' })

/**
 * oidc-provider storage that outlives a provider restart, as a database adapter would (its
 * own memory adapter is per instance). Expiry is not modelled: the test is short.
 */
const records = new Map<string, Record<string, any>>()
class SharedAdapter {
  constructor(private readonly model: string) {}
  private key = (id: string) => `${this.model}:${id}`
  private where = (match: (payload: Record<string, any>) => boolean) => [...records].find(([k, v]) => k.startsWith(`${this.model}:`) && match(v))?.[1]
  async upsert(id: string, payload: Record<string, any>) {
    records.set(this.key(id), structuredClone(payload))
  }
  async find(id: string) {
    return records.get(this.key(id))
  }
  async findByUid(uid: string) {
    return this.where((p) => p.uid === uid)
  }
  async findByUserCode(userCode: string) {
    return this.where((p) => p.userCode === userCode)
  }
  async consume(id: string) {
    const payload = records.get(this.key(id))
    if (payload) payload.consumed = Math.floor(Date.now() / 1000)
  }
  async destroy(id: string) {
    records.delete(this.key(id))
  }
  async revokeByGrantId(grantId: string) {
    for (const [k, v] of records) if (v.grantId === grantId) records.delete(k)
  }
}

/** The `kid` in the header of the ID token a tab has stored. */
const storedKid = async (page: Page) => JSON.parse(Buffer.from((await storedTokens(page)).idToken.split('.')[0], 'base64url').toString()).kid

// Issue F: the provider starts signing with a new key mid-session. Every tab must verify the
// next ID token after one JWKS refetch, without a reload (OIDC Core §10.1.1).
describe('signing-key rotation at the real provider', () => {
  const keyA = signingKey('key-a')
  const keyB = signingKey('key-b')
  let stack: Stack
  let context: BrowserContext

  /**
   * Restarts the provider on the same port with `keys` (the first signs), as an operator rolls
   * out a new key. Grants, sessions and refresh tokens are in {@link SharedAdapter}, so the
   * session survives, as with a database.
   */
  async function restartProvider(keys: object[]) {
    const port = Number(new URL(stack.op.issuer).port)
    await stack.op.close()
    stack.op = await startProvider({ port, appOrigins: [stack.appOrigin], accessTokenTtl: 300, jwks: { keys }, adapter: SharedAdapter })
  }

  beforeAll(async () => {
    stack = await startStack({
      accessTokenTtl: 300,
      // An API that refuses every token: auth.fetch then refreshes once, in the tab that called it.
      routes: (req, res) => {
        if (!req.url?.startsWith('/api/reject')) return false
        res.statusCode = 401
        res.setHeader('www-authenticate', 'Bearer error="invalid_token"')
        res.end()
        return true
      },
    })
    await restartProvider([keyA])
    context = await stack.newContext()
  })
  afterAll(async () => {
    await stack?.stop()
    await stack?.op.close()
  })

  it('after the provider switches from key A to key B, each tab refetches the JWKS once and keeps its session', async () => {
    const a = await openTab(context, stack)
    await login(a, stack, 'ada')
    const b = await openTab(context, stack)
    // Tab b verifies an ID token too (a refresh), so both tabs hold the JWKS [A].
    expect(await callApi(b, '/api/reject')).toBe(401)
    expect(stack.op.stats.grants.refresh_token).toBe(1)
    expect(stack.op.stats.requests['/jwks']).toBe(2)
    expect(await storedKid(b)).toBe('key-a')

    // Rotation: B signs from now on, A is still published.
    await restartProvider([keyB, keyA])
    expect(await callApi(a, '/api/reject')).toBe(401)
    expect(stack.op.stats.requests['/jwks']).toBe(1)
    expect(await storedKid(a)).toBe('key-b')
    expect(await callApi(b, '/api/reject')).toBe(401)
    expect(stack.op.stats.requests['/jwks']).toBe(2)
    expect(stack.op.stats.grants.refresh_token).toBe(2)
    expect(stack.op.stats.grantErrors).toEqual([])

    // Each tab keeps the new key set: a third token signed with B needs no request.
    expect(await callApi(a, '/api/reject')).toBe(401)
    expect(stack.op.stats.requests['/jwks']).toBe(2)
    for (const tab of [a, b]) {
      expect(await state(tab)).toMatchObject({ status: 'authenticated', user: { sub: 'ada' } })
      expect(await callApi(tab)).toBe(200)
    }
    expect(await a.evaluate(() => location.pathname + (window as any).events.filter((e: { type: string }) => e.type === 'logout').length)).toBe('/0')
  })
})

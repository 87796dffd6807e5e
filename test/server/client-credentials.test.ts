import { spawn, fork, type ChildProcess } from 'node:child_process'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startProvider } from '../../demo/provider.js'
import { createClientCredentials } from '../../dist/server/index.js'
import { SECRET } from './helpers.js'
import { freePort } from '../free-port.js'

type Provider = Awaited<ReturnType<typeof startProvider>>

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('createClientCredentials against a real oidc-provider', () => {
  let op: Provider
  let tokenEndpoint: string
  const logs: string[] = []
  beforeAll(async () => {
    // 3 s client_credentials tokens, so expiry happens within the test.
    op = await startProvider({ appOrigins: ['https://app.example'], accessTokenTtl: 3, confidential: { clientId: 'confidential', clientSecret: SECRET } })
    tokenEndpoint = `${op.issuer}/token`
  })
  afterAll(async () => {
    await op?.close()
    expect(logs.join('\n')).not.toContain(SECRET)
  })
  beforeEach(() => {
    op.resetStats()
    op.setTokenFault(undefined)
  })
  const source = (extra = {}) => createClientCredentials({ tokenEndpoint, clientId: 'confidential', clientSecret: SECRET, margin: 1, log: (l) => logs.push(l), ...extra })

  it('100 concurrent callers -> 1 provider request; a fresh token then comes from memory', async () => {
    const cc = source()
    const tokens = await Promise.all(Array.from({ length: 100 }, () => cc.getToken()))
    expect(new Set(tokens).size).toBe(1)
    expect(op.stats.grants.client_credentials).toBe(1)
    await cc.getToken()
    expect(op.stats.requests['/token']).toBe(1)
  })

  it('after expiry -> 1 new request for 100 callers', async () => {
    const cc = source()
    const first = await cc.getToken()
    await sleep(3100)
    const tokens = await Promise.all(Array.from({ length: 100 }, () => cc.getToken()))
    expect(new Set(tokens).size).toBe(1)
    expect(tokens[0]).not.toBe(first)
    expect(op.stats.grants.client_credentials).toBe(2)
  })

  it('ahead of expiry serves the old token while one renewal runs', async () => {
    const cc = source()
    const first = await cc.getToken()
    await sleep(2100) // refreshAt = 2 s (3 s lifetime, 1 s margin): due, not expired
    op.setTokenDelay(300)
    const during = await Promise.all(Array.from({ length: 20 }, () => cc.getToken()))
    expect(new Set(during)).toEqual(new Set([first]))
    await sleep(500)
    op.setTokenDelay(0)
    expect(await cc.getToken()).not.toBe(first)
    expect(op.stats.grants.client_credentials).toBe(2)
  })

  it('503 twice then success: 3 requests, one token', async () => {
    let failures = 2
    op.setTokenFault((ctx: any) => {
      if (failures-- <= 0) return false
      ctx.status = 503
      ctx.body = { error: 'temporarily_unavailable' }
      return true
    })
    const cc = source()
    const tokens = await Promise.all(Array.from({ length: 10 }, () => cc.getToken()))
    expect(new Set(tokens).size).toBe(1)
    expect(op.stats.requests['/token']).toBe(3)
    expect(op.stats.grants.client_credentials).toBe(1)
  })

  it('honours Retry-After on 429', async () => {
    let limited = 1
    op.setTokenFault((ctx: any) => {
      if (limited-- <= 0) return false
      ctx.status = 429
      ctx.set('retry-after', '1')
      ctx.body = { error: 'slow_down' }
      return true
    })
    const started = Date.now()
    await source().getToken()
    expect(Date.now() - started).toBeGreaterThanOrEqual(950)
  })

  it('a wrong secret is a config error, not retried', async () => {
    await expect(source({ clientSecret: 'wrong' }).getToken()).rejects.toMatchObject({ name: 'AuthError', code: 'config', error: 'invalid_client' })
    expect(op.stats.requests['/token']).toBe(1)
  })

  describe('three Node processes sharing one real Redis', () => {
    let redis: ChildProcess
    let redisPort: number
    const workers: ChildProcess[] = []
    const ask = (worker: ChildProcess, message: object) =>
      new Promise<{ tokens?: string[]; error?: string; logs: string[] }>((resolve) => {
        worker.once('message', resolve as never)
        worker.send(message)
      })

    beforeAll(async () => {
      redisPort = await freePort()
      redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
      await sleep(300)
      for (let i = 0; i < 3; i++) {
        const worker = fork(new URL('./cc-worker.mjs', import.meta.url).pathname, { env: { ...process.env, REDIS_PORT: String(redisPort), TOKEN_ENDPOINT: tokenEndpoint, SECRET } })
        await new Promise((resolve) => worker.once('message', resolve))
        workers.push(worker)
      }
    })
    afterAll(async () => {
      for (const worker of workers) worker.kill()
      redis?.kill()
    })

    it('3 x 50 callers -> 1 provider request; after expiry -> 1 more; Redis stopped -> callers still get tokens', async () => {
      const round = () => Promise.all(workers.map((w) => ask(w, { round: 50 })))
      const first = await round()
      expect(first.flatMap((r) => r.logs)).toEqual([])
      expect(first.map((r) => r.error)).toEqual([undefined, undefined, undefined])
      expect(new Set(first.flatMap((r) => r.tokens)).size).toBe(1)
      expect(op.stats.grants.client_credentials).toBe(1)

      await sleep(3100)
      const second = await round()
      expect(new Set(second.flatMap((r) => r.tokens)).size).toBe(1)
      expect(op.stats.grants.client_credentials).toBe(2)

      redis.kill()
      await sleep(3100)
      const third = await round()
      expect(third.map((r) => r.error)).toEqual([undefined, undefined, undefined])
      expect(third.every((r) => r.tokens!.length === 1)).toBe(true)
      // Each instance asked for itself, and said so once.
      expect(op.stats.grants.client_credentials).toBe(2 + 3)
      for (const r of third) expect(r.logs.filter((l) => l.includes('Redis unavailable'))).toHaveLength(1)
    })
  })
})

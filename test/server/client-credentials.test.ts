import { spawn, fork, type ChildProcess } from 'node:child_process'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startProvider } from '../../demo/provider.js'
import { createClientCredentials } from '../../dist/server/index.js'
import { fakeUpstream, SECRET } from './helpers.js'
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
    const readies = new Map<ChildProcess, number>()
    const ask = (worker: ChildProcess, message: object) =>
      new Promise<{ tokens?: string[]; error?: string; logs: string[] }>((resolve) => {
        const on = (m: { ready?: boolean }) => {
          if (m.ready) return
          worker.off('message', on)
          resolve(m as never)
        }
        worker.on('message', on)
        worker.send(message)
      })
    const startRedis = () => {
      redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
    }

    beforeAll(async () => {
      redisPort = await freePort()
      startRedis()
      await sleep(300)
      for (let i = 0; i < 3; i++) {
        const worker = fork(new URL('./cc-worker.mjs', import.meta.url).pathname, { env: { ...process.env, REDIS_PORT: String(redisPort), TOKEN_ENDPOINT: tokenEndpoint, SECRET } })
        worker.on('message', (m: { ready?: boolean }) => m.ready && readies.set(worker, (readies.get(worker) ?? 0) + 1))
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

    it('Redis restarted: as soon as it answers, instances share one token again (within one lifetime, not after 30 s)', async () => {
      startRedis()
      // Each instance's ioredis reconnects (retry every 200 ms) and reports 'ready' again.
      for (let i = 0; i < 50 && !workers.every((w) => (readies.get(w) ?? 0) >= 2); i++) await sleep(100)
      expect(workers.map((w) => readies.get(w))).toEqual([2, 2, 2])
      const before = op.stats.grants.client_credentials ?? 0
      await sleep(3100) // every instance's own token has expired
      const round = await Promise.all(workers.map((w) => ask(w, { round: 50 })))
      expect(round.map((r) => r.error)).toEqual([undefined, undefined, undefined])
      expect(new Set(round.flatMap((r) => r.tokens)).size).toBe(1)
      expect(op.stats.grants.client_credentials).toBe(before + 1)
      for (const r of round) expect(r.logs.filter((l) => l.includes('Redis is back'))).toHaveLength(1)
    })
  })
})

describe('a refusal retrying cannot fix (a wrong secret) is remembered, with a growing backoff', () => {
  let answer: { status: number; body: Record<string, unknown> }
  let up: Awaited<ReturnType<typeof fakeUpstream>>
  beforeAll(async () => {
    up = await fakeUpstream((_req, res) => {
      res.writeHead(answer.status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(answer.body))
    })
  })
  afterAll(() => up?.close())
  beforeEach(() => {
    up.received.length = 0
    answer = { status: 401, body: { error: 'invalid_client' } }
  })
  const make = (logs: string[] = []) =>
    createClientCredentials({ tokenEndpoint: `${up.url}/token`, clientId: 'confidential', clientSecret: 'wrong', refusalBackoff: 0.5, maxRefusalBackoff: 1, margin: 0, log: (l) => logs.push(l) })
  const callers = (cc: ReturnType<typeof make>, n = 20) => Promise.allSettled(Array.from({ length: n }, () => cc.getToken()))

  it('20 callers x 5 rounds -> one request per backoff (0.5 s, then 1 s); callers get the remembered error; a success resets it', async () => {
    const logs: string[] = []
    const cc = make(logs)
    const first = await callers(cc)
    expect(first.every((r) => r.status === 'rejected' && (r.reason as AuthErrorLike).code === 'config' && (r.reason as AuthErrorLike).error === 'invalid_client')).toBe(true)
    expect(up.received).toHaveLength(1)
    const remembered = await callers(cc)
    expect(up.received).toHaveLength(1)
    expect(remembered[0]).toMatchObject({ status: 'rejected', reason: { name: 'AuthError', code: 'config', error: 'invalid_client', status: 401, message: expect.stringContaining('not asking the provider again') } })
    await sleep(600)
    await callers(cc)
    expect(up.received).toHaveLength(2) // backoff now 1 s
    await sleep(600)
    await callers(cc)
    expect(up.received).toHaveLength(2)
    answer = { status: 200, body: { access_token: 'good', token_type: 'Bearer', expires_in: 1 } }
    await sleep(500)
    expect(new Set((await callers(cc)).map((r) => (r as PromiseFulfilledResult<string>).value))).toEqual(new Set(['good']))
    expect(up.received).toHaveLength(3)
    // After the success, a new refusal starts again at 0.5 s.
    answer = { status: 400, body: { error: 'invalid_client' } }
    await sleep(1100)
    await callers(cc)
    expect(up.received).toHaveLength(4)
    expect(logs.filter((l) => l.includes('next request to the provider in'))).toEqual([
      expect.stringContaining('in 0.5 s'),
      expect.stringContaining('in 1 s'),
      expect.stringContaining('in 0.5 s'),
    ])
  })

  it.each(['unauthorized_client', 'invalid_scope', 'unsupported_grant_type'])('%s: config error, remembered', async (error) => {
    answer = { status: 400, body: { error } }
    const cc = make()
    await expect(cc.getToken()).rejects.toMatchObject({ code: 'config', error })
    await expect(cc.getToken()).rejects.toMatchObject({ code: 'config', error })
    expect(up.received).toHaveLength(1)
  })

  describe('4 processes x 50 callers sharing one real Redis', () => {
    let redis: ChildProcess
    let redisPort: number
    const workers: ChildProcess[] = []
    const ask = (worker: ChildProcess) =>
      new Promise<{ tokens?: string[]; error?: string; code?: string; errors?: number; logs: string[] }>((resolve) => {
        const on = (m: { ready?: boolean }) => {
          if (m.ready) return
          worker.off('message', on)
          resolve(m as never)
        }
        worker.on('message', on)
        worker.send({ round: 50 })
      })
    const round = () => Promise.all(workers.map(ask))

    beforeAll(async () => {
      redisPort = await freePort()
      redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
      await sleep(300)
      for (let i = 0; i < 4; i++) {
        const worker = fork(new URL('./cc-worker.mjs', import.meta.url).pathname, { env: { ...process.env, REDIS_PORT: String(redisPort), TOKEN_ENDPOINT: `${up.url}/token`, SECRET: 'wrong', BACKOFF: '1', MAX_BACKOFF: '2' } })
        await new Promise((resolve) => worker.once('message', resolve))
        workers.push(worker)
      }
    })
    afterAll(() => {
      for (const worker of workers) worker.kill()
      redis?.kill()
    })

    it('one upstream request per backoff for the whole fleet; with Redis down, one per instance per backoff', async () => {
      const first = await round()
      expect(first.map((r) => [r.code, r.errors])).toEqual(Array(4).fill(['config', 50]))
      expect(up.received).toHaveLength(1)
      await round()
      expect(up.received).toHaveLength(1)
      await sleep(1100) // the shared refusal (1 s) has expired
      await round()
      expect(up.received).toHaveLength(2) // and the backoff is now 2 s
      await round()
      expect(up.received).toHaveLength(2)
      // Redis gone: each instance remembers for itself.
      redis.kill()
      await sleep(2100)
      const alone = await round()
      expect(alone.map((r) => r.code)).toEqual(['config', 'config', 'config', 'config'])
      expect(up.received).toHaveLength(2 + 4)
      await round()
      expect(up.received).toHaveLength(2 + 4)
      const logs = alone.flatMap((r) => r.logs).join('\n')
      expect(logs).not.toContain('wrong')
    })
  })
})

type AuthErrorLike = { code: string; error?: string }

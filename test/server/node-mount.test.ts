// toNodeHandler behind real Express body parsers (issue E: it hung forever behind
// express.urlencoded()), and its optional per-IP limiter.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTokenProxy, toNodeHandler } from '../../dist/server/index.js'
import { APP, fakeUpstream, SECRET } from './helpers.js'

let upstream: Awaited<ReturnType<typeof fakeUpstream>>
const servers: Server[] = []
beforeAll(async () => {
  upstream = await fakeUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ access_token: 'at', token_type: 'Bearer', expires_in: 60 }))
  })
})
afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
  await upstream?.close()
})

const proxy = () => createTokenProxy({ tokenEndpoint: `${upstream.url}/token`, clientId: 'confidential', clientSecret: SECRET, allowedOrigins: [APP], redirectUris: [`${APP}/callback`] })

async function listen(listener: Parameters<typeof createServer>[1]) {
  const server = createServer(listener)
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

const post = (url: string, body: string, type = 'application/x-www-form-urlencoded') =>
  fetch(url, { method: 'POST', headers: { origin: APP, 'content-type': type }, body, signal: AbortSignal.timeout(3000) })

describe('behind Express body parsers that already read the body', () => {
  it.each([
    ['express.urlencoded()', express.urlencoded({ extended: false })],
    ['express.urlencoded({ extended: true })', express.urlencoded({ extended: true })],
    ['express.text({ type: form })', express.text({ type: 'application/x-www-form-urlencoded' })],
    ['express.raw({ type: form })', express.raw({ type: 'application/x-www-form-urlencoded' })],
    ['express.json() (does not read a form)', express.json()],
  ])('%s: the form is forwarded as sent', async (_, parser) => {
    const app = express()
    app.use(parser)
    app.use('/api/oauth', toNodeHandler(proxy()))
    const base = await listen(app)
    const before = upstream.received.length
    const answer = await post(`${base}/api/oauth/token`, 'grant_type=refresh_token&refresh_token=rt%2B1')
    expect(answer.status).toBe(200)
    expect(await answer.json()).toMatchObject({ access_token: 'at' })
    expect(upstream.received).toHaveLength(before + 1)
    expect(Object.fromEntries(new URLSearchParams(upstream.received.at(-1)!.body))).toEqual({ grant_type: 'refresh_token', refresh_token: 'rt+1' })
  })

  it('a duplicated parameter parsed into an array is still refused as a duplicate (400)', async () => {
    const app = express()
    app.use(express.urlencoded({ extended: false }))
    app.use('/api/oauth', toNodeHandler(proxy()))
    const base = await listen(app)
    const answer = await post(`${base}/api/oauth/token`, 'grant_type=refresh_token&refresh_token=a&refresh_token=b')
    expect(answer.status).toBe(400)
    expect(await answer.json()).toMatchObject({ error: 'invalid_request', error_description: 'Duplicate parameter refresh_token' })
  })

  it('a body parsed into a shape that cannot be re-encoded: 500 at once, naming the fix', async () => {
    const app = express()
    app.use(express.urlencoded({ extended: true }))
    app.use('/api/oauth', toNodeHandler(proxy()))
    const base = await listen(app)
    const before = upstream.received.length
    const answer = await post(`${base}/api/oauth/token`, 'grant_type=refresh_token&refresh_token[a]=b')
    expect(answer.status).toBe(500)
    expect(await answer.json()).toMatchObject({ error: 'server_error', error_description: expect.stringContaining('mount the token proxy before body parsers') })
    expect(upstream.received).toHaveLength(before)
  })

  it('a JSON body parsed by express.json() is still refused as JSON (415), not hung', async () => {
    const app = express()
    app.use(express.json())
    app.use('/api/oauth', toNodeHandler(proxy()))
    const base = await listen(app)
    const answer = await post(`${base}/api/oauth/token`, JSON.stringify({ grant_type: 'refresh_token', refresh_token: 'rt' }), 'application/json')
    expect(answer.status).toBe(415)
  })
})

describe('the limit hook', () => {
  it('is called with the peer IP; false answers 429 without reaching the handler; a throwing limiter also refuses', async () => {
    const seen: string[] = []
    let budget = 2
    const base = await listen(toNodeHandler(proxy(), { limit: (ip) => (seen.push(ip), budget-- > 0) }))
    const before = upstream.received.length
    const statuses = []
    for (let i = 0; i < 4; i++) statuses.push((await post(`${base}/oauth/token`, 'grant_type=refresh_token&refresh_token=rt')).status)
    expect(statuses).toEqual([200, 200, 429, 429])
    expect(seen).toEqual(['127.0.0.1', '127.0.0.1', '127.0.0.1', '127.0.0.1'])
    expect(upstream.received).toHaveLength(before + 2)
    const throwing = await listen(toNodeHandler(proxy(), { limit: () => { throw new Error('limiter down') } }))
    expect((await post(`${throwing}/oauth/token`, 'grant_type=refresh_token&refresh_token=rt')).status).toBe(429)
  })
})

// `npm run bench`: the token proxy's overhead per token request against calling the provider
// directly, interleaved in one run (median of each, and their ratio).
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdirSync, writeFileSync } from 'node:fs'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startProvider } from '../demo/provider.js'
import { createTokenProxy, toNodeHandler } from '../dist/server/index.js'

const SECRET = 'bench-secret'
const APP = 'http://127.0.0.1:1'
const N = Number(process.env.BENCH_PROXY_REQUESTS ?? 300)

let op: Awaited<ReturnType<typeof startProvider>>
let proxyUrl: string
let close: () => Promise<unknown>
beforeAll(async () => {
  op = await startProvider({ appOrigins: [APP], confidential: { clientId: 'c', clientSecret: SECRET } })
  const server = createServer(toNodeHandler(createTokenProxy({ issuer: op.issuer, clientId: 'c', clientSecret: SECRET, allowedOrigins: [APP], redirectUris: [`${APP}/callback`] })))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  proxyUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth/token`
  close = () => new Promise((resolve) => server.close(resolve))
})
afterAll(async () => {
  await close?.()
  await op?.close()
})

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

it('measures proxy overhead per token request', async () => {
  // A refresh with an unknown token: the provider authenticates the client, looks the token up, answers 400.
  const body = () => new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'unknown' })
  const direct = () =>
    fetch(`${op.issuer}/token`, { method: 'POST', body: body(), headers: { authorization: `Basic ${btoa(`c:${SECRET}`)}`, 'content-type': 'application/x-www-form-urlencoded' } })
  const proxied = () => fetch(proxyUrl, { method: 'POST', body: body(), headers: { origin: APP, 'content-type': 'application/x-www-form-urlencoded' } })
  const times = { direct: [] as number[], proxied: [] as number[] }
  for (let i = 0; i < 20; i++) await Promise.all([(await direct()).text(), (await proxied()).text()])
  for (let i = 0; i < N; i++) {
    for (const [name, call] of [['direct', direct], ['proxied', proxied]] as const) {
      const start = performance.now()
      const response = await call()
      await response.text()
      times[name].push(performance.now() - start)
      expect(response.status).toBe(400)
    }
  }
  const d = median(times.direct)
  const p = median(times.proxied)
  const line = `Token proxy overhead (${N} interleaved token requests, loopback, median): direct ${d.toFixed(2)} ms, through the proxy ${p.toFixed(2)} ms: ${(p / d).toFixed(2)}x (+${(p - d).toFixed(2)} ms).`
  console.log(`\n${line}\n`)
  mkdirSync('bench/results', { recursive: true })
  writeFileSync('bench/results/proxy.md', `${line}\n`)
})

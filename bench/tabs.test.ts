// `npm run bench`: tabs against the real provider in real Chromium. For 1, 5, 10 and 20 tabs:
// refresh grants per expiry, the time from the provider's refresh response to the last tab
// holding the new token (median, p95), failed API calls; and getAccessToken() on a fresh token
// against reading IndexedDB on every call. Then the same with DPoP (`dpop: true`, nonces required by
// the provider and by the demo API, which validates every proof): refresh grants per expiry, and the
// extra round trips per API call and per refresh once each origin's nonce is known.
// Writes bench/results/tabs.md and tabs.svg.
import { mkdirSync, writeFileSync } from 'node:fs'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { callApi, login, openTab, skipAhead, startStack, state, until, type Stack } from '../test/e2e/harness.js'

const TAB_COUNTS = [1, 5, 10, 20]
const RUNS = Number(process.env.BENCH_RUNS ?? 7)
const CALLS_PER_TAB = 5

// A tab's clock is moved 61 s per expiry and DPoP proofs carry that clock's iat, which the API accepts
// within 300 s: at most 4 expiries per row with DPoP.
const DPOP_RUNS = Math.min(RUNS, 4)

let stack: Stack
let dpopStack: Stack
let responseAt = 0
beforeAll(async () => {
  stack = await startStack({ accessTokenTtl: 60 })
  stack.op.provider.on('grant.success', (ctx: any) => {
    if (ctx.oidc.params.grant_type === 'refresh_token') responseAt = Date.now()
  })
  dpopStack = await startStack({
    accessTokenTtl: 60,
    page: { dpop: true },
    provider: { dpop: { requireNonce: true }, apiResource: true },
    api: { requireDPoP: true, requireNonce: true },
  })
})
afterAll(async () => {
  await stack?.stop()
  await dpopStack?.stop()
})

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]
}

interface Row { tabs: number; grantsPerExpiry: number; median: number; p95: number; failed: number; calls: number }

it('measures refresh across tabs', async () => {
  const rows: Row[] = []
  for (const n of TAB_COUNTS) {
    const context = await stack.newContext()
    const first = await openTab(context, stack)
    await login(first, stack)
    const tabs: Page[] = [first]
    for (let i = 1; i < n; i++) tabs.push(await openTab(context, stack))
    stack.op.resetStats()
    const latencies: number[] = []
    let failed = 0
    let calls = 0
    for (let run = 0; run < RUNS; run++) {
      const before = (await state(tabs[0])).expiresAt!
      for (const tab of tabs) await skipAhead(tab, 61_000)
      const results = (await Promise.all(tabs.map((tab) => Promise.all(Array.from({ length: CALLS_PER_TAB }, () => callApi(tab)))))).flat()
      calls += results.length
      failed += results.filter((r) => r !== 200).length
      // Every tab holds the new set: read when each one first saw it.
      await until(async () => (await Promise.all(tabs.map(state))).every((s) => s.expiresAt !== before), 5000, 'all tabs on the new token')
      const expiresAt = (await state(tabs[0])).expiresAt!
      const adopted = await Promise.all(tabs.map((tab) => tab.evaluate((e) => (window as any).adoptedAt[e] as number, expiresAt)))
      latencies.push(Math.max(...adopted) - responseAt)
    }
    const grants = stack.op.stats.grants.refresh_token ?? 0
    expect(stack.op.stats.grantErrors).toEqual([])
    rows.push({ tabs: n, grantsPerExpiry: grants / RUNS, median: quantile(latencies, 0.5), p95: quantile(latencies, 0.95), failed, calls })
    await context.close()
  }

  const context = await stack.newContext()
  const page = await openTab(context, stack)
  await login(page, stack)
  const ours = await page.evaluate(() => (window as any).callsPerSecond('ours', 1500))
  const idb = await page.evaluate(() => (window as any).callsPerSecond('idb', 1500))
  await context.close()

  const table = [
    `Refresh across tabs: real Chromium ${'(headless)'}, real oidc-provider with rotation, ${RUNS} expiries per row, ${CALLS_PER_TAB} API calls per tab per expiry.`,
    '',
    '| tabs | refresh grants per expiry | response → last tab holds new token, median (ms) | p95 (ms) | failed API calls |',
    '| ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.tabs} | ${r.grantsPerExpiry.toFixed(2)} | ${r.median.toFixed(1)} | ${r.p95.toFixed(1)} | ${r.failed} / ${r.calls} |`),
    '',
    `getAccessToken() on a fresh token: ${Math.round(ours).toLocaleString('en')} calls/s (memory cache) vs ${Math.round(idb).toLocaleString('en')} calls/s reading IndexedDB every time: **${(ours / idb).toFixed(1)}×**, same run, same tab.`,
  ].join('\n')
  console.log(`\n${table}\n`)
  mkdirSync('bench/results', { recursive: true })
  writeFileSync('bench/results/tabs.md', `${table}\n`)
  writeFileSync('bench/results/tabs.svg', chart(rows))
  for (const r of rows) expect(r.grantsPerExpiry).toBe(1)
})

interface DPoPRow { tabs: number; grantsPerExpiry: number; calls: number; apiRequests: number; apiNonceRetries: number; refreshRequests: number; tokenNonceRetries: number; failed: number; keys: number }

it('measures refresh and round trips across tabs with DPoP', async () => {
  const rows: DPoPRow[] = []
  for (const n of TAB_COUNTS) {
    const context = await dpopStack.newContext()
    const first = await openTab(context, dpopStack)
    await login(first, dpopStack)
    const tabs: Page[] = [first]
    for (let i = 1; i < n; i++) tabs.push(await openTab(context, dpopStack))
    // The first call of the profile learns the API's nonce (one use_dpop_nonce); what follows is measured.
    expect(await callApi(first)).toBe(200)
    dpopStack.op.resetStats()
    const api = dpopStack.api.stats
    const before = { calls: api.calls, nonce: api.nonceChallenges }
    const keys = new Set<string>()
    let calls = 0
    let failed = 0
    for (let run = 0; run < DPOP_RUNS; run++) {
      const expiresAt = (await state(tabs[0])).expiresAt!
      for (const tab of tabs) await skipAhead(tab, 61_000)
      const results = (await Promise.all(tabs.map((tab) => Promise.all(Array.from({ length: CALLS_PER_TAB }, () => callApi(tab)))))).flat()
      calls += results.length
      failed += results.filter((r) => r !== 200).length
      await until(async () => (await Promise.all(tabs.map(state))).every((s) => s.expiresAt !== expiresAt), 5000, 'all tabs on the new token')
    }
    for (const proof of api.proofs.slice(-calls)) keys.add(proof.jkt)
    for (const proof of dpopStack.op.stats.dpopProofs) keys.add(proof.jkt)
    const refreshProofs = dpopStack.op.stats.dpopProofs.filter((p) => p.grantType === 'refresh_token')
    expect(dpopStack.op.stats.grantErrors.filter((e) => e.error !== 'use_dpop_nonce')).toEqual([])
    rows.push({
      tabs: n,
      grantsPerExpiry: (dpopStack.op.stats.grants.refresh_token ?? 0) / DPOP_RUNS,
      calls,
      apiRequests: api.calls - before.calls,
      apiNonceRetries: api.nonceChallenges - before.nonce,
      refreshRequests: refreshProofs.length,
      tokenNonceRetries: refreshProofs.filter((p) => p.error === 'use_dpop_nonce').length,
      failed,
      keys: keys.size,
    })
    await context.close()
  }

  const table = [
    `With DPoP (\`dpop: true\`): real Chromium, real oidc-provider binding tokens to the key and requiring DPoP nonces, the demo API validating every proof and requiring its own nonce; ${DPOP_RUNS} expiries per row, ${CALLS_PER_TAB} API calls per tab per expiry, measured after the profile's first API call.`,
    '',
    '| tabs | refresh grants per expiry | API requests per API call | extra round trips per API call (use_dpop_nonce) | refresh requests per expiry | use_dpop_nonce at the token endpoint | keys seen | failed API calls |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.tabs} | ${r.grantsPerExpiry.toFixed(2)} | ${(r.apiRequests / r.calls).toFixed(3)} | ${(r.apiNonceRetries / r.calls).toFixed(3)} | ${(r.refreshRequests / DPOP_RUNS).toFixed(2)} | ${r.tokenNonceRetries} | ${r.keys} | ${r.failed} / ${r.calls} |`),
  ].join('\n')
  console.log(`\n${table}\n`)
  mkdirSync('bench/results', { recursive: true })
  writeFileSync('bench/results/tabs-dpop.md', `${table}\n`)
  for (const r of rows) {
    expect(r.grantsPerExpiry).toBe(1)
    expect(r.failed).toBe(0)
    expect(r.keys).toBe(1)
  }
})

/** A two-panel SVG: grants per expiry (bars) and propagation median/p95 (lines) by tab count. */
function chart(rows: Row[]): string {
  const W = 640, H = 260, pad = 48, panel = (W - pad * 3) / 2
  const x = (i: number) => pad + (i + 0.5) * (panel / rows.length)
  const maxMs = Math.max(10, ...rows.map((r) => r.p95)) * 1.2
  const yMs = (v: number) => H - pad - (v / maxMs) * (H - pad * 2)
  const yG = (v: number) => H - pad - (v / 2) * (H - pad * 2)
  const bars = rows.map((r, i) => `<rect x="${x(i) - 14}" y="${yG(r.grantsPerExpiry)}" width="28" height="${H - pad - yG(r.grantsPerExpiry)}" fill="#2f5bd3"/><text x="${x(i)}" y="${yG(r.grantsPerExpiry) - 6}" text-anchor="middle">${r.grantsPerExpiry}</text><text x="${x(i)}" y="${H - pad + 16}" text-anchor="middle">${r.tabs}</text>`).join('')
  const off = pad * 2 + panel
  const line = (key: 'median' | 'p95', color: string) => `<polyline fill="none" stroke="${color}" stroke-width="2" points="${rows.map((r, i) => `${off + x(i) - pad},${yMs(r[key])}`).join(' ')}"/>` + rows.map((r, i) => `<circle cx="${off + x(i) - pad}" cy="${yMs(r[key])}" r="3" fill="${color}"/>`).join('')
  const labels = rows.map((r, i) => `<text x="${off + x(i) - pad}" y="${H - pad + 16}" text-anchor="middle">${r.tabs}</text>`).join('')
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#fff"/>
<text x="${pad}" y="20" font-weight="bold">Refresh grants per expiry</text>
<line x1="${pad}" y1="${H - pad}" x2="${pad + panel}" y2="${H - pad}" stroke="#888"/>
<line x1="${pad}" y1="${yG(1)}" x2="${pad + panel}" y2="${yG(1)}" stroke="#ccc" stroke-dasharray="4"/>
${bars}
<text x="${pad + panel / 2}" y="${H - 8}" text-anchor="middle">tabs</text>
<text x="${off}" y="20" font-weight="bold">Response → last tab on new token (ms)</text>
<line x1="${off}" y1="${H - pad}" x2="${off + panel}" y2="${H - pad}" stroke="#888"/>
<line x1="${off}" y1="${pad}" x2="${off}" y2="${H - pad}" stroke="#888"/>
<text x="${off - 6}" y="${yMs(0) + 4}" text-anchor="end">0</text>
<text x="${off - 6}" y="${yMs(maxMs / 1.2) + 4}" text-anchor="end">${(maxMs / 1.2).toFixed(0)}</text>
${line('median', '#2f5bd3')}${line('p95', '#d36b2f')}${labels}
<text x="${off + panel - 90}" y="${pad - 4}" fill="#2f5bd3">median</text><text x="${off + panel - 30}" y="${pad - 4}" fill="#d36b2f">p95</text>
<text x="${off + panel / 2}" y="${H - 8}" text-anchor="middle">tabs</text>
</svg>
`
}

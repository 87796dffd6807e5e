// Observation helpers for the DPoP end-to-end tests: what a tab sends and receives on the wire,
// and which keys its IndexedDB holds. Nothing here makes a proof for the browser.
import type { Page } from 'playwright-core'
import * as oauth from 'oauth4webapi'
import { decodeJwt, jwkThumbprint } from '../../demo/provider.js'
import type { Stack } from './harness.js'

/** One request of a tab that carried a `DPoP` proof. */
export interface SentProof {
  url: string
  path: string
  jkt: string
  htm: string
  htu: string
  nonce?: string
  ath?: string
  /** The Authorization scheme sent with it ('DPoP', 'Bearer' or none). */
  scheme?: string
}

/** What one tab sent and was answered, collected from playwright's request/response events. */
export interface Wire {
  proofs: SentProof[]
  /** Every request to the token endpoint or the API, with or without a proof. */
  requests: { path: string; hasProof: boolean; scheme?: string }[]
  /** `use_dpop_nonce` answers this tab received, by origin ('provider' or 'api'). */
  nonceChallenges: { provider: number; api: number }
  /** Paths of 401 answers that were not nonce challenges. */
  unauthorized: string[]
}

/** Starts recording `page`'s DPoP traffic to the provider and the demo API. */
export function watchWire(page: Page, stack: Stack): Wire {
  const wire: Wire = { proofs: [], requests: [], nonceChallenges: { provider: 0, api: 0 }, unauthorized: [] }
  page.on('request', (request) => {
    const url = new URL(request.url())
    const relevant = (url.origin === stack.op.issuer && request.method() === 'POST') || url.pathname.startsWith('/api/')
    if (!relevant) return
    const headers = request.headers()
    const scheme = headers.authorization?.split(' ')[0]
    wire.requests.push({ path: url.pathname, hasProof: 'dpop' in headers, scheme })
    if (!headers.dpop) return
    const { header, payload } = decodeJwt(headers.dpop)
    wire.proofs.push({ url: request.url(), path: url.pathname, jkt: jwkThumbprint(header.jwk), htm: payload.htm, htu: payload.htu, nonce: payload.nonce, ath: payload.ath, scheme })
  })
  page.on('response', async (response) => {
    const url = new URL(response.url())
    if (response.status() === 401 && url.origin === stack.appOrigin) {
      if (/error="use_dpop_nonce"/.test(response.headers()['www-authenticate'] ?? '')) wire.nonceChallenges.api += 1
      else wire.unauthorized.push(url.pathname)
    }
    if (response.status() === 400 && url.origin === stack.op.issuer && response.request().method() === 'POST') {
      const body = await response.text().catch(() => '')
      if (body.includes('"use_dpop_nonce"')) wire.nonceChallenges.provider += 1
    }
  })
  return wire
}

/** The distinct key thumbprints of these proofs. */
export const thumbprints = (proofs: SentProof[]) => [...new Set(proofs.map((p) => p.jkt))]

/** Every CryptoKey the page's origin keeps in IndexedDB, wherever it is (any database, store and record). */
export const storedCryptoKeys = (page: Page) =>
  page.evaluate(async () => {
    const found: { where: string; type: string; extractable: boolean; algorithm: string }[] = []
    const visit = (value: unknown, where: string, depth = 0) => {
      if (value instanceof CryptoKey) found.push({ where, type: value.type, extractable: value.extractable, algorithm: JSON.stringify(value.algorithm) })
      else if (value && typeof value === 'object' && depth < 4) for (const [k, v] of Object.entries(value)) visit(v, `${where}.${k}`, depth + 1)
    }
    for (const { name } of await indexedDB.databases()) {
      if (!name) continue
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const open = indexedDB.open(name)
        open.onsuccess = () => resolve(open.result)
        open.onerror = () => reject(open.error)
      })
      for (const store of Array.from(db.objectStoreNames)) {
        const [keys, values] = await new Promise<[IDBValidKey[], unknown[]]>((resolve, reject) => {
          const tx = db.transaction(store).objectStore(store)
          const k = tx.getAllKeys()
          const v = tx.getAll()
          v.onsuccess = () => resolve([k.result, v.result])
          v.onerror = () => reject(v.error)
        })
        values.forEach((value, i) => visit(value, `${name}/${store}/${String(keys[i])}`))
      }
      db.close()
    }
    return found
  })

/** Opens `n` tabs of one profile, logged in through the first. */
/**
 * A refresh token grant from Node, as a thief holding the token would send it: with no proof, or
 * with a proof of the thief's own key (a `use_dpop_nonce` answer is retried once with the nonce).
 */
export async function stealRefresh(stack: Stack, refreshToken: string, withOwnKey: boolean): Promise<{ status: number; error?: string }> {
  const issuer = new URL(stack.op.issuer)
  const insecure = { [oauth.allowInsecureRequests]: true }
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure))
  const client = { client_id: 'demo-spa' }
  const DPoP = withOwnKey ? oauth.DPoP({}, await oauth.generateKeyPair('ES256')) : undefined
  let last: Response | undefined
  for (let attempt = 0; attempt < 2; attempt++) {
    last = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), refreshToken, { ...insecure, DPoP })
    const body = (await last.clone().json()) as { error?: string }
    if (body.error !== 'use_dpop_nonce' || !DPoP) return { status: last.status, error: body.error }
    // oauth4webapi's DPoP handle took the nonce from the answer's DPoP-Nonce header.
  }
  return { status: last!.status, error: ((await last!.json()) as { error?: string }).error }
}

import * as oauth from 'oauth4webapi'
import { AuthError } from './errors.js'
import type { Store } from './store.js'

/** Store key of the client's DPoP key pair (a structured clone of the CryptoKeyPair, with its thumbprint). */
const KEY = 'dpop-key'
/** Store key of the servers' latest nonces, by origin (RFC 9449 §8, §9): shared by every tab. */
const NONCES = 'dpop-nonces'
/** RFC 9449 §8.1: `nonce = 1*NQCHAR`; anything else is not remembered. */
const NONCE = /^[\x21\x23-\x5B\x5D-\x7E]{1,512}$/

interface KeyRecord {
  pair: CryptoKeyPair
  /** JWK SHA-256 thumbprint of the public key (RFC 7638): `dpop_jkt`, and what a token set is bound to. */
  jkt: string
}

/** A DPoP handle for oauth4webapi and the thumbprint of its key. */
export interface BoundKey {
  handle: oauth.DPoPHandle
  jkt: string
}

/** The DPoP state of one client `name`: its key, the servers' nonces, proofs. Loaded only with `dpop: true`. */
export interface DPoPKeys {
  /** The key for a login: the stored one, else one made now; when two tabs make one at once, both use the winner. */
  forLogin(): Promise<BoundKey>
  /** The handle for tokens bound to `jkt`, or undefined when that key is gone; `reload` reads the store again. */
  forTokens(jkt: string, reload?: boolean): Promise<oauth.DPoPHandle | undefined>
  /** Deletes the stored key if it is the one with thumbprint `jkt` (a session bound to it ended). */
  drop(jkt: string): Promise<void>
  /** `fetchFn` that remembers every answer's `DPoP-Nonce`, for this tab and the others. */
  observe(fetchFn: typeof fetch): typeof fetch
  /** Proofs for `sentTo` are made for `meantFor` (htu): the token proxy forwards them to the provider's endpoint. */
  retarget(sentTo: string, meantFor: string): void
  /**
   * Sends `request` with `Authorization: DPoP <token>` and a fresh proof (htm, htu, ath, the origin's nonce);
   * a `use_dpop_nonce` challenge costs one retry. A set without `jkt` (not bound) is sent as Bearer.
   */
  send(request: Request, token: string, jkt: string | undefined, fetchFn: typeof fetch): Promise<Response>
  close(): void
}

/** A stored key this client made: a pair whose private key cannot be exported (a planted extractable key is not). */
const isRecord = (value: unknown): value is KeyRecord => {
  const r = value as KeyRecord | undefined
  return typeof r?.jkt === 'string' && typeof r.pair?.privateKey === 'object' && typeof r.pair.publicKey === 'object' && r.pair.privateKey.extractable === false
}

/** True when `record.jkt` really is its public key's thumbprint (a record written by anything else is not used). */
const genuine = async (record: KeyRecord) => {
  try {
    return (await oauth.DPoP({}, record.pair).calculateThumbprint()) === record.jkt
  } catch {
    return false
  }
}

/**
 * Creates the DPoP state of client `name` (RFC 9449). The key pair is ES256 (P-256), generated with
 * `extractable: false`: the private key can sign but can never be exported, so what an XSS copies out of
 * IndexedDB (tokens and the CryptoKey object) is useless elsewhere (RFC 10017 §9.2). The key is made at the
 * first login, kept in the store (IndexedDB: one key for every tab; in memory mode or after an IndexedDB
 * failure, this tab's memory, with a warning), and dropped with the session. Nonces are remembered per
 * origin in the store and announced to the other tabs, so one tab pays a `use_dpop_nonce` retry for all.
 */
export function createDPoP(name: string, store: Store, warn: (message: string) => void): DPoPKeys {
  let current: (BoundKey & { pair: CryptoKeyPair }) | undefined
  const nonces = new Map<string, string>()
  const htu = new Map<string, string>()
  const channel = typeof BroadcastChannel == 'function' ? new BroadcastChannel(`oauth-tabs:${name}:dpop`) : undefined
  const remember = (origin: string, nonce: unknown) => typeof nonce === 'string' && NONCE.test(nonce) && nonces.set(origin, nonce)
  if (channel) channel.onmessage = ({ data }: MessageEvent<{ origin?: unknown; nonce?: unknown }>) => typeof data?.origin === 'string' && remember(data.origin, data.nonce)
  // Nonces other tabs learnt before this one started; the channel brings later ones.
  const seeded = store.get(NONCES).then((stored) => {
    for (const [origin, nonce] of Object.entries(stored ?? {})) if (!nonces.has(origin)) remember(origin, nonce)
  })

  // The proof gets this tab's latest nonce for the origin it goes to, and the htu the server expects.
  // (Only this tab's nonce map counts: a nonce it refused, too long or malformed, is never sent.)
  const modify: oauth.ModifyAssertionFunction = (_header, payload) => {
    const sentTo = String(payload.htu)
    const target = htu.get(sentTo) ?? sentTo
    payload.htu = target
    const nonce = nonces.get(new URL(target).origin)
    if (nonce) payload.nonce = nonce
    else delete payload.nonce
  }

  function use(record: KeyRecord): BoundKey {
    if (current?.jkt !== record.jkt) current = { ...record, handle: oauth.DPoP({}, record.pair, { [oauth.modifyAssertion]: modify }) }
    return current
  }

  function learn(url: string, response: Response) {
    // A nonce belongs to the server that sent it: the proxy's answers are the provider's.
    const sentTo = new URL(url)
    const origin = new URL(htu.get(sentTo.origin + sentTo.pathname) ?? url).origin
    const nonce = response.headers.get('dpop-nonce')
    if (nonce !== null && !NONCE.test(nonce)) nonces.delete(origin) // the server moved on; never send the old one
    if (!nonce || nonces.get(origin) === nonce || !remember(origin, nonce)) return
    channel?.postMessage({ origin, nonce })
    void store.update(NONCES, (s) => ({ ...(s as object), [origin]: nonce }))
  }

  const observe = (fetchFn: typeof fetch): typeof fetch =>
    async (input, init) => {
      await seeded
      const response = await fetchFn(input, init)
      learn(typeof input === 'object' && 'url' in input ? input.url : String(input), response)
      return response
    }

  async function forTokens(jkt: string, reload = false) {
    if (!reload && current?.jkt === jkt) return current.handle
    const stored = await store.get(KEY)
    return isRecord(stored) && stored.jkt === jkt ? use(stored).handle : undefined
  }

  return {
    async forLogin() {
      const stored = await store.get(KEY)
      if (isRecord(stored) && (await genuine(stored))) return use(stored)
      // Made outside the transaction (WebCrypto is async); the store keeps the first one written.
      const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])) as CryptoKeyPair
      const jkt = await oauth.DPoP({}, pair).calculateThumbprint()
      // A record that is not a genuine key of ours (planted, or from another version) goes first.
      const bad = (stored as Partial<KeyRecord> | undefined)?.jkt
      if (stored !== undefined) await store.update(KEY, (s) => ((s as Partial<KeyRecord> | undefined)?.jkt === bad ? undefined : s))
      const winner = (await store.update(KEY, (s) => (isRecord(s) ? s : { pair, jkt }))) as KeyRecord
      if (!store.persistent) warn('DPoP key kept in this tab\'s memory only (IndexedDB unavailable): other tabs and a reload need a new login')
      return use(winner)
    },
    forTokens,
    async drop(jkt) {
      if (current?.jkt === jkt) current = undefined
      // The session's key goes, and so does anything in its place that is not a key of ours.
      await store.update(KEY, (s) => (isRecord(s) && s.jkt !== jkt ? s : undefined))
    },
    observe,
    retarget(sentTo, meantFor) {
      const url = new URL(meantFor)
      htu.set(sentTo, url.origin + url.pathname)
    },
    async send(request, token, jkt, fetchFn) {
      if (!jkt) {
        request.headers.set('Authorization', `Bearer ${token}`)
        return fetchFn(request)
      }
      const handle = await forTokens(jkt)
      if (!handle) throw new AuthError('login_required', 'The DPoP key of this session is gone (logged out in another tab); log in')
      const spare = request.clone()
      // oauth4webapi makes the proof and reads the challenge; the request sent is the caller's own (its
      // body, credentials, mode and redirect policy) with the two headers oauth4webapi chose.
      const once = (attempt: Request) =>
        oauth.protectedResourceRequest(token, attempt.method, new URL(attempt.url), undefined, undefined, {
          DPoP: handle,
          // Its origin is allowlisted (http only where the app allowed it).
          [oauth.allowInsecureRequests]: true,
          [oauth.customFetch]: (_url, init) => {
            const headers = new Headers(init.headers)
            attempt.headers.set('Authorization', headers.get('authorization')!)
            attempt.headers.set('DPoP', headers.get('dpop')!)
            // A proof is for one URL: never follow a redirect with it (to another path or origin, which
            // could also set this origin's nonce). A redirect comes back as is (type 'opaqueredirect').
            return observe(fetchFn)(new Request(attempt, { redirect: 'manual' }))
          },
        })
      const challenged = (err: unknown) => {
        if (err instanceof oauth.WWWAuthenticateChallengeError) return err.response
        throw err
      }
      try {
        return await once(request)
      } catch (err) {
        const response = challenged(err)
        // RFC 9449 §9: one retry with the nonce the answer carried; any other challenge is the caller's.
        if (!oauth.isDPoPNonceError(err)) return response
      }
      return once(spare).catch(challenged)
    },
    close() {
      channel?.close()
    },
  }
}

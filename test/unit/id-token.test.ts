import { beforeEach, describe, expect, it, vi } from 'vitest'
import { CLOCK_TOLERANCE } from '../../src/id-token.js'
import { REQUEST_TIMEOUT } from '../../src/metadata.js'
import { createKeyValueStore } from '../../src/store.js'
import type { TokenSet } from '../../src/tokens.js'
import { fakeProvider, installFakeLocks, keyRotation, logIn, openTab, type FakeProviderOptions } from './helpers.js'

beforeEach(() => {
  installFakeLocks()
})

type Claims = Record<string, unknown>
const NAME = 'idt'
const now = () => Math.floor(Date.now() / 1000)
/** The token set in IndexedDB, as every tab reads it. */
const stored = () => createKeyValueStore(NAME, 'indexeddb', () => {}).get('tokens') as Promise<TokenSet | undefined>

/**
 * Logs in (ID token claims changed by `atLogin`), then refreshes once, the refreshed ID token's
 * claims changed by `atRefresh`, which also gets the login's claims. Resolves to the refresh's
 * outcome and the stored set before and after.
 */
async function refresh(atRefresh: (claims: Claims, login: Claims) => Claims, atLogin: (claims: Claims) => Claims = (c) => c) {
  const tamper: NonNullable<FakeProviderOptions['tamper']> = { claims: atLogin }
  // Login tokens expire at once: the next getAccessToken refreshes.
  const op = fakeProvider({ expiresIn: 0, tamper })
  const auth = openTab(op, { name: NAME })
  await logIn(auth, op)
  const before = (await stored())!
  tamper.claims = (c) => atRefresh(c, before.user!)
  const outcome: { token?: string; error?: unknown } = await auth.getAccessToken().then(
    (token) => ({ token }),
    (error: unknown) => ({ error }),
  )
  return { op, auth, before, after: await stored(), ...outcome }
}

describe('a refreshed ID token (OIDC Core §12.2), besides the checks at login', () => {
  it.each<[string, (claims: Claims, login: Claims) => Claims, ((claims: Claims) => Claims)?]>([
    ['with another nonce', (c) => ({ ...c, nonce: 'forged' })],
    ['with an iat two minutes in the future', (c) => ({ ...c, iat: now() + 120 })],
    ['issued to another client (one audience, a foreign azp)', (c) => ({ ...c, azp: 'evil' })],
    ['with an azp the login token did not have', (c) => ({ ...c, azp: 'spa' })],
    ['with another audience', (c) => ({ ...c, aud: ['spa', 'other'], azp: 'spa' }), (c) => ({ ...c, aud: ['spa', 'api'], azp: 'spa' })],
    ['with another auth_time', (c, l) => ({ ...c, auth_time: Number(l.auth_time) + 60 }), (c) => ({ ...c, auth_time: now() - 600 })],
    ['older than the current one (iat)', (c, l) => ({ ...c, iat: Number(l.iat) - 120 })],
    ['with another sub', (c) => ({ ...c, sub: 'mallory' })],
    ['with another iss', (c) => ({ ...c, iss: 'https://evil.example' })],
  ])('is refused %s: invalid_response, nothing of it stored, its spent refresh token never sent again', async (_, atRefresh, atLogin) => {
    const { op, auth, before, after, error } = await refresh(atRefresh, atLogin)
    expect(error).toMatchObject({ name: 'AuthError', code: 'invalid_response' })
    expect(op.requests('/token', 'refresh_token')).toHaveLength(1)
    // The login's set, without its refresh token (the provider has rotated it); here the access token
    // had expired already, so the session is over, as one without a refresh token.
    if (after) expect({ ...after, refreshToken: after.refreshToken ?? null }).toMatchObject({ accessToken: before.accessToken, user: before.user, refreshToken: null })
    await expect(auth.getAccessToken()).rejects.toMatchObject({ code: 'login_required' })
    expect(op.requests('/token', 'refresh_token')).toHaveLength(1)
    expect(op.revoked).toBe(false)
  })

  it.each<[string, (claims: Claims, login: Claims) => Claims, ((claims: Claims) => Claims)?]>([
    ['without a nonce (what §12.2 recommends)', (c) => c],
    ["with the login's nonce (as oidc-provider sends it)", (c, l) => ({ ...c, nonce: l.nonce })],
    ['with aud "spa" where the login had ["spa"]', (c) => ({ ...c, aud: 'spa' }), (c) => ({ ...c, aud: ['spa'] })],
    ['with azp equal to the client in both', (c) => ({ ...c, azp: 'spa' }), (c) => ({ ...c, azp: 'spa' })],
    ['with the same auth_time', (c, l) => ({ ...c, auth_time: l.auth_time }), (c) => ({ ...c, auth_time: now() - 600 })],
    ['with auth_time where the login had none', (c) => ({ ...c, auth_time: now() - 600 })],
    [`with an iat within the clock tolerance (${CLOCK_TOLERANCE - 10} s ahead)`, (c) => ({ ...c, iat: now() + CLOCK_TOLERANCE - 10 })],
  ])('is accepted %s', async (_, atRefresh, atLogin) => {
    const { after, token, error } = await refresh(atRefresh, atLogin)
    expect(error).toBeUndefined()
    expect(after?.accessToken).toBe(token)
    expect(after?.user?.sub).toBe('ada')
  })

  it('is refused when the session was started with another issuer (the app changed `issuer`, same `name`)', async () => {
    const op = fakeProvider({ expiresIn: 0 })
    const auth = openTab(op, { name: NAME })
    await logIn(auth, op)
    const store = createKeyValueStore(NAME, 'indexeddb', () => {})
    const before = await store.update('tokens', (s) => ({ ...(s as TokenSet), user: { ...(s as TokenSet).user!, iss: 'https://old-op.example' } }))
    await expect(auth.getAccessToken()).rejects.toMatchObject({ code: 'invalid_response', message: expect.stringContaining('iss') })
    const after = await stored()
    if (after) expect({ ...after, refreshToken: after.refreshToken ?? null }).toMatchObject({ accessToken: before!.accessToken, refreshToken: null })
  })
})

describe('the JWKS fetch', () => {
  it('that never answers fails the refresh after REQUEST_TIMEOUT with a network error, frees the lock and keeps the tokens', async () => {
    const { held } = installFakeLocks()
    let hang = false
    let asked: () => void
    const jwksAsked = new Promise<void>((resolve) => (asked = resolve))
    let signal: AbortSignal | undefined
    // Ignores its signal too: the bound must hold even for a fetch that never gives up.
    const op = fakeProvider({
      expiresIn: 0,
      jwks: (request) => {
        if (!hang) return undefined
        signal = request.signal
        asked()
        return new Promise<Response>(() => {})
      },
    })
    await logIn(openTab(op, { name: NAME }), op)
    const before = await stored()
    // A tab opened after the login has no JWKS yet: its refresh fetches one, under the lock.
    const other = openTab(op, { name: NAME })
    hang = true
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    let settled = false
    const outcome = other.getAccessToken().then(
      () => undefined,
      (err: unknown) => err,
    ).finally(() => (settled = true))
    await jwksAsked
    expect(held.size).toBe(1)
    await vi.advanceTimersByTimeAsync(REQUEST_TIMEOUT - 1)
    expect(settled).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect(settled).toBe(true)
    vi.useRealTimers()
    expect(await outcome).toMatchObject({ name: 'AuthError', code: 'network' })
    expect(signal?.aborted).toBe(true)
    await vi.waitFor(() => expect(held.size).toBe(0))
    expect(await stored()).toEqual(before)
  })
})

describe('signing-key rotation at the provider', () => {
  /** Two tabs, each of which has verified an ID token (so each holds the JWKS [k1]). */
  async function twoTabs() {
    const rotation = keyRotation()
    // Every token expires at once: each getAccessToken is a refresh in that tab.
    const op = fakeProvider({ expiresIn: 0, refreshedExpiresIn: 0, ...rotation.options })
    const a = openTab(op, { name: NAME })
    await logIn(a, op)
    const b = openTab(op, { name: NAME })
    await b.getAccessToken()
    expect(op.requests('/jwks')).toHaveLength(2)
    return { op, a, b, rotation }
  }

  it('a new kid verifies after one JWKS refetch, in every tab, without a reload', async () => {
    const { op, a, b, rotation } = await twoTabs()
    rotation.rotate()
    await a.getAccessToken()
    expect(op.requests('/jwks')).toHaveLength(3)
    await b.getAccessToken()
    expect(op.requests('/jwks')).toHaveLength(4)
    // The refetched set is kept: the next token signed with k2 needs no request.
    await a.getAccessToken()
    await b.getAccessToken()
    expect(op.requests('/jwks')).toHaveLength(4)
    const tokens = (await stored())!
    expect(JSON.parse(Buffer.from(tokens.idToken!.split('.')[0], 'base64url').toString())).toMatchObject({ kid: 'k2' })
    expect(op.requests('/token', 'refresh_token')).toHaveLength(5)
    for (const tab of [a, b]) expect(tab.getState()).toMatchObject({ status: 'authenticated', user: { sub: 'ada' } })
  })

  it('a kid still unknown after the refetch is refused (one refetch), nothing of it stored', async () => {
    const { op, a, rotation } = await twoTabs()
    const before = await stored()
    rotation.rotate({ publish: false })
    await expect(a.getAccessToken()).rejects.toMatchObject({ name: 'AuthError', code: 'invalid_response' })
    expect(op.requests('/jwks')).toHaveLength(3)
    // Nothing of the refused answer: the old access token, and no refresh token (the answer spent it).
    // (Here the access token had expired already, so the session is over and nothing is left.)
    const after = await stored()
    if (after) expect([after.accessToken, after.refreshToken]).toEqual([before!.accessToken, undefined])
    await expect(a.getAccessToken()).rejects.toMatchObject({ code: 'login_required' })
    expect(op.requests('/jwks')).toHaveLength(3)
  })

  it('a kid unknown to a JWKS that oauth4webapi itself fetched again (a minute old) is refused without a second fetch', async () => {
    const { op, a, rotation } = await twoTabs()
    rotation.rotate({ publish: false })
    vi.spyOn(Date, 'now').mockReturnValue(Date.now() + 61_000)
    await expect(a.getAccessToken()).rejects.toMatchObject({ code: 'invalid_response' })
    expect(op.requests('/jwks')).toHaveLength(3)
  })

  it('a kid unknown to a JWKS fetched for this very token is refused without a second fetch', async () => {
    const rotation = keyRotation()
    const op = fakeProvider({ expiresIn: 0, ...rotation.options })
    await logIn(openTab(op, { name: NAME }), op)
    rotation.rotate({ publish: false })
    // A new tab: no JWKS yet, so the one it fetches now is the latest there is.
    await expect(openTab(op, { name: NAME }).getAccessToken()).rejects.toMatchObject({ code: 'invalid_response' })
    expect(op.requests('/jwks')).toHaveLength(2)
  })
})

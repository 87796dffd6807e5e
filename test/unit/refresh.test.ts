import { beforeEach, describe, expect, it, vi } from 'vitest'
import { toTokenSet } from '../../src/tokens.js'
import { fakeProvider, idToken, installFakeLocks, logIn, openTab } from './helpers.js'

beforeEach(() => {
  installFakeLocks()
})

const html = (status: number) => new Response('<!doctype html><h1>Bad Gateway</h1>', { status, headers: { 'content-type': 'text/html' } })

describe('expiry math', () => {
  const response = (expires_in?: number) => ({ access_token: 'a', token_type: 'bearer' as const, ...(expires_in === undefined ? {} : { expires_in }) })

  it('counts from the local receive time and expires_in, refreshing refreshSkew early', () => {
    const set = toTokenSet(response(3600), undefined, 1_000_000, 60_000)
    expect(set.expiresAt).toBe(1_000_000 + 3_600_000)
    expect(set.refreshAt).toBe(1_000_000 + 3_540_000)
  })

  it('never refreshes before half the lifetime, so a short-lived token is not refreshed at once', () => {
    const set = toTokenSet(response(30), undefined, 0, 60_000)
    expect(set.refreshAt).toBe(15_000)
    expect(set.expiresAt).toBe(30_000)
  })

  it('assumes one hour when expires_in is absent', () => {
    expect(toTokenSet(response(), undefined, 0, 60_000).expiresAt).toBe(3_600_000)
  })

  it('keeps the refresh token, ID token and user when a refresh response omits them, and bumps the generation', () => {
    const first = toTokenSet({ ...response(60), refresh_token: 'r1', id_token: 'i1' }, { sub: 'ada' } as never, 0, 0)
    const second = toTokenSet(response(60), undefined, 1, 0, first)
    expect(second).toMatchObject({ refreshToken: 'r1', idToken: 'i1', user: { sub: 'ada' }, gen: first.gen + 1 })
  })
})

describe('refresh in one tab', () => {
  it('returns a fresh token from memory without touching IndexedDB or the network', async () => {
    const op = fakeProvider()
    const auth = openTab(op)
    await logIn(auth, op)
    const requests = op.fetch.mock.calls.length
    const idbOpen = vi.spyOn(indexedDB, 'open')
    for (let i = 0; i < 50; i++) await auth.getAccessToken()
    expect(op.fetch.mock.calls.length).toBe(requests)
    expect(idbOpen).not.toHaveBeenCalled()
  })

  it('sends one token request for 100 concurrent callers when the token is due', async () => {
    const op = fakeProvider({ expiresIn: 0 })
    const auth = openTab(op)
    await logIn(auth, op)
    const tokens = await Promise.all(Array.from({ length: 100 }, () => auth.getAccessToken()))
    expect(new Set(tokens)).toEqual(new Set(['at-3']))
    expect(op.requests('/token', 'refresh_token')).toHaveLength(1)
    expect(op.revoked).toBe(false)
  })

  it('refreshes proactively on its timer and stores the rotated refresh token in the same write', { timeout: 10_000 }, async () => {
    const op = fakeProvider({ expiresIn: 10 })
    const auth = openTab(op)
    const events: string[] = []
    auth.subscribe((_, event) => events.push(event.type))
    await logIn(auth, op)
    // refreshAt is half the 10 s lifetime: the timer fires after 5 s.
    await vi.waitFor(() => expect(op.requests('/token', 'refresh_token')).toHaveLength(1), { timeout: 6000, interval: 100 })
    await vi.waitFor(() => expect(events).toContain('refresh'))
    expect(op.requests('/token', 'refresh_token')[0].params.get('refresh_token')).toBe('rt-2')
    // A second client reading the store sees the rotated set, not the consumed one.
    const other = openTab(op)
    await vi.waitFor(() => expect(other.getState().status).toBe('authenticated'))
    expect(await other.getAccessToken()).toBe('at-3')
    auth.close()
    other.close()
  })

  it('ends the session on invalid_grant: tokens cleared, unauthenticated, login_required', async () => {
    const op = fakeProvider({ expiresIn: 0, token: (p) => (p.get('grant_type') === 'refresh_token' ? Response.json({ error: 'invalid_grant' }, { status: 400 }) : undefined) })
    const auth = openTab(op)
    await logIn(auth, op)
    const events: string[] = []
    auth.subscribe((_, e) => events.push(e.type))
    await expect(auth.getAccessToken()).rejects.toMatchObject({ name: 'AuthError', code: 'login_required', error: 'invalid_grant' })
    expect(auth.getState().status).toBe('unauthenticated')
    expect(events).toContain('logout')
    expect(op.requests('/token', 'refresh_token')).toHaveLength(1)
    const reopened = openTab(op)
    await expect(reopened.getAccessToken()).rejects.toMatchObject({ code: 'login_required' })
  })

  it('treats an HTML error page from the token endpoint as server_error with its status and keeps the tokens', async () => {
    const op = fakeProvider({ expiresIn: 0, token: (p) => (p.get('grant_type') === 'refresh_token' ? html(502) : undefined) })
    const auth = openTab(op)
    await logIn(auth, op)
    vi.spyOn(Math, 'random').mockReturnValue(0)
    const err = await auth.getAccessToken().catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'AuthError', code: 'server_error', status: 502 })
    // Bounded retries, then the error; the stored refresh token is kept for the next try.
    expect(op.requests('/token', 'refresh_token')).toHaveLength(3)
    expect(auth.getState().status).toBe('authenticated')
    expect(new Set(op.requests('/token', 'refresh_token').map((r) => r.params.get('refresh_token')))).toEqual(new Set(['rt-2']))
  })

  it('treats a 200 that is not JSON as server_error, not a parse crash', async () => {
    const op = fakeProvider({ expiresIn: 0, token: (p) => (p.get('grant_type') === 'refresh_token' ? new Response('OK', { status: 200, headers: { 'content-type': 'text/plain' } }) : undefined) })
    const auth = openTab(op)
    await logIn(auth, op)
    vi.spyOn(Math, 'random').mockReturnValue(0)
    await expect(auth.getAccessToken()).rejects.toMatchObject({ code: 'server_error' })
  })

  it('retries 503 with backoff and succeeds on the third try', async () => {
    let failures = 2
    const op = fakeProvider({ expiresIn: 0, token: (p) => (p.get('grant_type') === 'refresh_token' && failures-- > 0 ? Response.json({ error: 'temporarily_unavailable' }, { status: 503 }) : undefined) })
    const auth = openTab(op)
    await logIn(auth, op)
    vi.spyOn(Math, 'random').mockReturnValue(0)
    await expect(auth.getAccessToken()).resolves.toBe('at-3')
    expect(op.requests('/token', 'refresh_token')).toHaveLength(3)
  })

  it('waits Retry-After on 429 before the next try', async () => {
    let limited = 1
    const op = fakeProvider({ expiresIn: 0, token: (p) => (p.get('grant_type') === 'refresh_token' && limited-- > 0 ? new Response('', { status: 429, headers: { 'retry-after': '1' } }) : undefined) })
    const auth = openTab(op)
    await logIn(auth, op)
    const started = Date.now()
    await expect(auth.getAccessToken()).resolves.toBe('at-3')
    expect(Date.now() - started).toBeGreaterThanOrEqual(990)
  })

  it('rejects a refresh whose ID token is about another user, storing nothing', async () => {
    const op = fakeProvider({ expiresIn: 0 })
    const auth = openTab(op)
    await logIn(auth, op)
    const now = Math.floor(Date.now() / 1000)
    const forged = await idToken({ iss: 'https://op.example', aud: 'spa', sub: 'mallory', iat: now, exp: now + 60 })
    op.fetch.mockImplementationOnce(async () => Response.json({ access_token: 'evil', token_type: 'Bearer', expires_in: 60, id_token: forged }))
    await expect(auth.getAccessToken()).rejects.toMatchObject({ code: 'invalid_response' })
    expect(auth.getState().user?.sub).toBe('ada')
  })

  it('rejects a token_type other than Bearer', async () => {
    const op = fakeProvider({ expiresIn: 0 })
    const auth = openTab(op)
    await logIn(auth, op)
    op.fetch.mockImplementationOnce(async () => Response.json({ access_token: 'x', token_type: 'mac', expires_in: 60 }))
    await expect(auth.getAccessToken()).rejects.toMatchObject({ code: 'invalid_response' })
  })

  it('does not burn retries while offline', async () => {
    const op = fakeProvider({ expiresIn: 0 })
    const auth = openTab(op)
    await logIn(auth, op)
    vi.spyOn(navigator, 'onLine', 'get').mockReturnValue(false)
    await expect(auth.getAccessToken()).rejects.toMatchObject({ code: 'network' })
    expect(op.requests('/token', 'refresh_token')).toHaveLength(0)
    expect(auth.getState().status).toBe('authenticated')
  })
})

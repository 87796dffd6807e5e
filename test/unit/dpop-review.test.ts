import { createStore, get, set } from 'idb-keyval'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { AuthError } from '../../src/index.js'
import { fakeProvider, installFakeLocks, logIn, openTab, startLogin, type FakeProviderOptions } from './helpers.js'

// What the review of DPoP and PAR (issue H) found; each test fails on the code before its fix.
beforeEach(() => {
  installFakeLocks()
})

const db = (name: string) => createStore(`oauth-tabs:${name}`, 'kv')

function setup(options: FakeProviderOptions = {}, name = 'review') {
  const op = fakeProvider(options)
  const tab = (extra: Parameters<typeof openTab>[1] = {}) => openTab(op, { name, dpop: true, ...extra })
  return { op, tab }
}

describe('PAR with a popup', () => {
  it('resolves signed in: the opener waits for the state of the pushed request, which the URL no longer shows', async () => {
    const popup = { closed: false, location: { href: 'about:blank' }, close() {
      this.closed = true
    } }
    vi.spyOn(window, 'open').mockReturnValue(popup as unknown as Window)
    vi.spyOn(window, 'close').mockImplementation(() => {})
    const op = fakeProvider()
    const opener = openTab(op, { pushedAuthorization: true })
    const done = opener.login({ popup: true })
    await vi.waitFor(() => expect(popup.location.href).toMatch(/request_uri=/))
    void openTab(op, { pushedAuthorization: true }).handleRedirect(op.authorize(popup.location.href))
    await expect(done).resolves.toMatchObject({ status: 'authenticated' })
  })

  it('a provider requiring PAR with tokenProxy is a config error (the push would need the secret)', async () => {
    const op = fakeProvider({ metadata: { require_pushed_authorization_requests: true } })
    await expect(openTab(op, { tokenProxy: '/api/oauth' }).login()).rejects.toMatchObject({ code: 'config' })
    expect(op.requests('/par')).toHaveLength(0)
  })

  it('a huge request_uri is refused, not navigated to', async () => {
    const op = fakeProvider({ par: () => Response.json({ request_uri: `urn:x:${'a'.repeat(5000)}`, expires_in: 60 }, { status: 201 }) })
    await expect(openTab(op, { pushedAuthorization: true }).login()).rejects.toMatchObject({ code: 'invalid_response' })
  })
})

describe('refresh answers that must not cost the refresh token, and those that spend it', () => {
  it('use_dpop_nonce on the retry too (the nonce rotated meanwhile) keeps the refresh token: the next refresh works', async () => {
    const { op, tab } = setup({ expiresIn: 0 })
    const auth = tab()
    await logIn(auth, op)
    let challenges = 0
    const base = op.fetch.getMockImplementation()! as typeof fetch
    op.fetch.mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
      const request = new Request(input, init)
      if (request.url.endsWith('/token') && (await request.clone().text()).includes('grant_type=refresh_token') && challenges < 2) {
        challenges += 1
        return Response.json({ error: 'use_dpop_nonce', error_description: 'nonce required' }, { status: 400, headers: { 'dpop-nonce': `rotated-${challenges}` } })
      }
      return base(input, init)
    })
    const err = await auth.getAccessToken().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AuthError)
    expect((err as AuthError).error).toBe('use_dpop_nonce')
    const record = await get('tokens', db('review'))
    expect(record.refreshToken).toMatch(/^rt-/)
    await expect(auth.getAccessToken({ forceRefresh: true })).resolves.toMatch(/^at-/)
  })

  it('a Bearer answer to a DPoP refresh is refused and its (rotated) refresh token never presented again', async () => {
    let downgrade = false
    const { op, tab } = setup({ expiresIn: 0, tamper: { body: (b) => (downgrade ? { ...b, token_type: 'Bearer' } : b) } })
    const auth = tab()
    await logIn(auth, op)
    downgrade = true
    await expect(auth.getAccessToken()).rejects.toMatchObject({ code: 'invalid_response' })
    await expect(auth.getAccessToken({ forceRefresh: true })).rejects.toMatchObject({ code: 'login_required' })
    expect(op.requests('/token', 'refresh_token')).toHaveLength(1)
    expect(op.revoked).toBe(false)
  })
})

describe('the DPoP key in storage', () => {
  it('a record that is not a genuine non-extractable key of ours is never used: a new key is made', async () => {
    const { op, tab } = setup()
    const planted = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair
    await set('dpop-key', { pair: planted, jkt: 'attacker-jkt' }, db('review'))
    const url = new URL(await startLogin(tab()))
    expect(url.searchParams.get('dpop_jkt')).not.toBe('attacker-jkt')
    const record = await get('dpop-key', db('review'))
    expect(record.pair.privateKey.extractable).toBe(false)
    void op
  })

  it('a non-extractable record whose jkt is not its thumbprint is replaced too', async () => {
    const { tab } = setup()
    const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])) as CryptoKeyPair
    await set('dpop-key', { pair, jkt: 'not-the-thumbprint' }, db('review'))
    const url = new URL(await startLogin(tab()))
    expect(url.searchParams.get('dpop_jkt')).not.toBe('not-the-thumbprint')
  })

  it("logout removes whatever key record is there, not only the session's", async () => {
    const { op, tab } = setup()
    const auth = tab()
    await logIn(auth, op)
    const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair
    await set('dpop-key', { pair, jkt: 'planted-after-login' }, db('review'))
    await auth.logout()
    expect(await get('dpop-key', db('review'))).toBeUndefined()
  })
})

describe('userInfo with DPoP', () => {
  it('asks UserInfo with a proof of the key the token is bound to: the claims arrive', async () => {
    const { op, tab } = setup()
    const auth = tab({ userInfo: true })
    const seen: string[] = []
    auth.subscribe((_, e) => e.type === 'error' && seen.push(String(e.error?.message)))
    await logIn(auth, op)
    expect(seen).toEqual([])
    expect(auth.getState().user).toMatchObject({ email: 'ada@example.test' })
    expect(op.proofs('/userinfo')).toHaveLength(1)
  })
})

describe('proofs and nonces', () => {
  it('auth.fetch never follows a redirect with the proof (a proof is for one URL)', async () => {
    const { op, tab } = setup({ api: (request) => (new URL(request.url).pathname === '/hop' ? new Response(null, { status: 307, headers: { location: 'https://evil.example/steal' } }) : undefined) })
    const auth = tab()
    await logIn(auth, op)
    const modes: (string | undefined)[] = []
    const base = op.fetch.getMockImplementation()! as typeof fetch
    op.fetch.mockImplementation((input: RequestInfo | URL, init?: RequestInit) => {
      if (input instanceof Request && input.headers.has('dpop')) modes.push(input.redirect)
      return base(input, init)
    })
    await auth.fetch('https://api.example/hop')
    expect(modes).toEqual(['manual'])
  })

  it('a nonce the client refuses (over 512 characters) is never sent, and the old one is dropped', async () => {
    const { op, tab } = setup({ dpopNonce: 'api' })
    const auth = tab()
    await logIn(auth, op)
    expect((await auth.fetch('https://api.example/me')).status).toBe(200) // learns api-nonce-1
    op.nonces.api = 'n'.repeat(600)
    const response = await auth.fetch('https://api.example/me')
    expect(response.status).toBe(401) // one retry, then the caller gets the answer
    const sent = op.proofs('/me').slice(-2).map((p) => p.claims.nonce)
    expect(sent.every((n) => n === undefined || n.length <= 512)).toBe(true)
    expect(sent.at(-1)).toBeUndefined()
  })
})

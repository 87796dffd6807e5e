import { beforeEach, describe, expect, it, vi } from 'vitest'
import { AuthError, type AuthEvent, type AuthState } from '../../src/index.js'
import { fakeProvider, installFakeLocks, ISSUER, logIn, openTab, REDIRECT, startLogin, type FakeProviderOptions } from './helpers.js'

beforeEach(() => {
  installFakeLocks()
})

/** A provider that issues no refresh token (scope without offline_access, or one that never does). */
const noRefreshToken: FakeProviderOptions['tamper'] = { body: ({ refresh_token: _, ...b }) => b }

const events = (auth: ReturnType<typeof openTab>) => {
  const seen: AuthEvent[] = []
  auth.subscribe((_, event) => seen.push(event))
  return seen
}

describe('getState()', () => {
  it('returns the same frozen object until the state changes, and a new one after every change', async () => {
    const op = fakeProvider({ expiresIn: 0 })
    const auth = openTab(op)
    const loading = auth.getState()
    expect(auth.getState()).toBe(loading)
    expect(Object.isFrozen(loading)).toBe(true)
    await auth.ready()
    const signedOut = auth.getState()
    expect(signedOut).not.toBe(loading)
    expect(auth.getState()).toBe(signedOut)
    await logIn(auth, op)
    const signedIn = auth.getState()
    expect(signedIn).not.toBe(signedOut)
    for (let i = 0; i < 10; i++) expect(Object.is(auth.getState(), signedIn)).toBe(true)
    await auth.getAccessToken() // expires_in 0: a refresh, a new expiresAt
    expect(auth.getState()).not.toBe(signedIn)
    expect(auth.getState().status).toBe('authenticated')
  })

  it('hands listeners the same object getState() returns', async () => {
    const op = fakeProvider()
    const auth = openTab(op)
    const seen: AuthState[] = []
    auth.subscribe((state) => seen.push(state))
    await logIn(auth, op)
    expect(seen.at(-1)).toBe(auth.getState())
  })
})

describe('ready()', () => {
  it('resolves once the stored session is read, with the state then', async () => {
    const op = fakeProvider()
    await logIn(openTab(op), op)
    const tab = openTab(op)
    expect(tab.getState().status).toBe('loading')
    const state = await tab.ready()
    expect(state.status).toBe('authenticated')
    expect(state).toBe(tab.getState())
    // Subscribing late (after the ready event) still works.
    expect((await tab.ready()).status).toBe('authenticated')
  })

  it('never rejects, even when IndexedDB is broken', async () => {
    vi.spyOn(indexedDB, 'open').mockImplementation(() => {
      throw new DOMException('blocked', 'SecurityError')
    })
    const tab = openTab(fakeProvider())
    await expect(tab.ready()).resolves.toMatchObject({ status: 'unauthenticated' })
  })

  it('makes "log in if needed" correct: a signed-in user is not sent to the provider on load', async () => {
    const op = fakeProvider()
    await logIn(openTab(op), op)
    const reload = openTab(op)
    const assign = vi.spyOn(window.location, 'assign').mockImplementation(() => {})
    const { status } = await reload.ready()
    if (status === 'unauthenticated') void reload.login()
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(assign).not.toHaveBeenCalled()
  })
})

describe('a session without a refresh token', () => {
  it('ends at expiresAt in every tab with an "expired" event, sending nothing', { timeout: 10_000 }, async () => {
    const op = fakeProvider({ expiresIn: 1, tamper: noRefreshToken })
    const tabs = [openTab(op), openTab(op), openTab(op)]
    await logIn(tabs[0], op)
    await vi.waitFor(() => tabs.forEach((t) => expect(t.getState().status).toBe('authenticated')))
    const seen = tabs.map(events)
    await vi.waitFor(() => tabs.forEach((t) => expect(t.getState().status).toBe('unauthenticated')), { timeout: 3000 })
    for (const tab of seen) expect(tab.map((e) => e.type)).toContain('expired')
    expect(op.requests('/token', 'refresh_token')).toHaveLength(0)
    await expect(tabs[1].getAccessToken()).rejects.toMatchObject({ code: 'login_required' })
  })

  it('starts unauthenticated after a reload past expiry, and removes the dead set', async () => {
    const op = fakeProvider({ expiresIn: 0, tamper: noRefreshToken })
    const first = openTab(op)
    await logIn(first, op)
    first.close()
    const reload = openTab(op)
    expect((await reload.ready()).status).toBe('unauthenticated')
    expect(events(reload)).toEqual([])
    const again = openTab(op)
    expect((await again.ready()).status).toBe('unauthenticated')
  })

  it('getAccessToken() after expiry ends the session here too: the state never says signed in while calls fail', async () => {
    const op = fakeProvider({ expiresIn: 0, tamper: noRefreshToken })
    const auth = openTab(op)
    const other = openTab(op)
    await logIn(auth, op)
    await other.ready()
    await expect(auth.getAccessToken()).rejects.toMatchObject({ code: 'login_required' })
    expect(auth.getState().status).toBe('unauthenticated')
    await vi.waitFor(() => expect(other.getState().status).toBe('unauthenticated'))
  })
})

describe('a refresh refused with an error retrying cannot fix', () => {
  const refuse = (error: string, status = 400) => (params: URLSearchParams) =>
    params.get('grant_type') === 'refresh_token' ? Response.json({ error, error_description: 'refresh token unknown' }, { status }) : undefined

  it.each(['invalid_request', 'unauthorized_client', 'invalid_scope', 'unsupported_grant_type'])(
    '%s: the refresh token is never sent again; the session ends at expiry with an error event naming it',
    async (error) => {
      const op = fakeProvider({ expiresIn: 0, token: refuse(error) })
      const auth = openTab(op)
      const other = openTab(op)
      await logIn(auth, op)
      await other.ready()
      const seen = events(auth)
      const err = await auth.getAccessToken().catch((e: unknown) => e)
      expect(err).toBeInstanceOf(AuthError)
      expect((err as AuthError).error).toBe(error)
      await expect(auth.getAccessToken()).rejects.toMatchObject({ code: 'login_required' })
      await expect(other.getAccessToken()).rejects.toMatchObject({ code: 'login_required' })
      expect(op.requests('/token', 'refresh_token')).toHaveLength(1)
      expect(seen.find((e) => e.type === 'error')?.error?.error).toBe(error)
      expect(seen.map((e) => e.type)).toContain('expired')
      await vi.waitFor(() => expect(other.getState().status).toBe('unauthenticated'))
    },
  )

  it('invalid_client (401 with a challenge) too; a still-valid access token keeps serving meanwhile', { timeout: 10_000 }, async () => {
    const op = fakeProvider({
      expiresIn: 2,
      token: (p) =>
        p.get('grant_type') === 'refresh_token' ? new Response(JSON.stringify({ error: 'invalid_client' }), { status: 401, headers: { 'content-type': 'application/json', 'www-authenticate': 'Basic error="invalid_client"' } }) : undefined,
    })
    const auth = openTab({ ...op, fetch: op.fetch }, { refreshSkew: 60 })
    await logIn(auth, op)
    const seen = events(auth)
    const token = await auth.getAccessToken()
    await new Promise((resolve) => setTimeout(resolve, 1100)) // past refreshAt (half the lifetime)
    expect(await auth.getAccessToken()).toBe(token) // due: refreshed in the background, which fails
    await vi.waitFor(() => expect(seen.find((e) => e.type === 'error')?.error?.error).toBe('invalid_client'))
    expect(await auth.getAccessToken()).toBe(token) // still valid: served, nothing sent
    expect(op.requests('/token', 'refresh_token')).toHaveLength(1)
    await vi.waitFor(() => expect(auth.getState().status).toBe('unauthenticated'), { timeout: 3000 })
    expect(seen.map((e) => e.type)).toContain('expired')
  })

  it('a 5xx or a network error keeps the refresh token (retrying may heal it)', async () => {
    let fail = true
    const op = fakeProvider({
      expiresIn: 0,
      token: (p) => (p.get('grant_type') === 'refresh_token' && fail ? Response.json({ error: 'server_error' }, { status: 503 }) : undefined),
    })
    const auth = openTab(op)
    await logIn(auth, op)
    await expect(auth.getAccessToken()).rejects.toMatchObject({ code: 'server_error' })
    fail = false
    await expect(auth.getAccessToken()).resolves.toMatch(/^at-/)
  })
})

describe('getAccessToken({ forceRefresh: true })', () => {
  it('forces a refresh even before the stored session is read', async () => {
    const op = fakeProvider()
    const first = openTab(op)
    await logIn(first, op)
    const before = await first.getAccessToken()
    const fresh = openTab(op)
    expect(fresh.getState().status).toBe('loading')
    const token = await fresh.getAccessToken({ forceRefresh: true })
    expect(token).not.toBe(before)
    expect(op.requests('/token', 'refresh_token')).toHaveLength(1)
  })
})

describe('login()', () => {
  it('never settles once it navigates: code after `await auth.login()` does not run', async () => {
    const op = fakeProvider()
    const auth = openTab(op)
    const assign = vi.spyOn(window.location, 'assign').mockImplementation(() => {})
    let after = false
    void auth.login().then(() => (after = true))
    await vi.waitFor(() => expect(assign).toHaveBeenCalled())
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(after).toBe(false)
  })

  it('rejects (does not hang) when it fails before navigating', async () => {
    const op = fakeProvider({ metadata: { code_challenge_methods_supported: ['plain'] } })
    await expect(openTab(op).login()).rejects.toMatchObject({ code: 'config' })
  })

  it('sends prompt=consent with offline_access by default; authorizationParams or params replace it, "" drops it', async () => {
    const op = fakeProvider()
    const prompt = async (options = {}, login = {}) => new URL(await startLogin(openTab(op, options), login)).searchParams.get('prompt')
    expect(await prompt()).toBe('consent')
    expect(await prompt({ authorizationParams: { prompt: 'login' } })).toBe('login')
    expect(await prompt({}, { params: { prompt: 'select_account' } })).toBe('select_account')
    expect(await prompt({}, { params: { prompt: '' } })).toBeNull()
    expect(await prompt({ authorizationParams: { prompt: '' } })).toBeNull()
  })

  it('brings appState back from handleRedirect', async () => {
    const op = fakeProvider()
    const appState = { draft: 'hello', when: new Date(5), tags: new Map([['a', 1]]) }
    const url = await startLogin(openTab(op), { appState, returnTo: '/inbox' })
    const result = await openTab(op).handleRedirect(op.authorize(url))
    expect(result).toEqual({ returnTo: '/inbox', appState })
  })

  it("refuses an appState that JSON cannot carry in storage: 'memory' mode (a BigInt, a cycle), before navigating", async () => {
    const op = fakeProvider()
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    for (const appState of [10n, cyclic]) {
      await expect(openTab(op, { storage: 'memory' }).login({ appState })).rejects.toMatchObject({ name: 'AuthError', code: 'config' })
    }
  })

  it('refuses an appState that cannot be stored, before navigating', async () => {
    const op = fakeProvider()
    await expect(openTab(op).login({ appState: { f: () => 1 } })).rejects.toMatchObject({ code: 'config' })
  })
})

describe('login across the redirect without IndexedDB', () => {
  it("storage: 'memory' keeps the pending login in sessionStorage, never the tokens", async () => {
    const op = fakeProvider()
    const url = await startLogin(openTab(op, { storage: 'memory' }))
    // The page reloads on the callback: a new client, a new memory.
    const callbackPage = openTab(op, { storage: 'memory' })
    await expect(callbackPage.handleRedirect(op.authorize(url))).resolves.toMatchObject({ returnTo: '/start?x=1' })
    expect(callbackPage.getState().status).toBe('authenticated')
    expect(JSON.stringify({ ...sessionStorage })).not.toMatch(/at-|rt-/)
    expect(sessionStorage.length).toBe(0) // taken once
  })

  it("storage: 'memory' tabs share nothing: another tab's login, refresh and logout stay in that tab", async () => {
    const op = fakeProvider({ expiresIn: 0 })
    const a = openTab(op, { storage: 'memory' })
    const b = openTab(op, { storage: 'memory' })
    await b.ready()
    const seen = events(b)
    const url = await startLogin(a)
    await a.handleRedirect(op.authorize(url))
    await a.getAccessToken() // a refresh in tab a
    await a.logout()
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(b.getState().status).toBe('unauthenticated')
    expect(seen).toEqual([])
  })

  it('the memory fallback (IndexedDB failing) logs in too, with a warning', async () => {
    vi.spyOn(indexedDB, 'open').mockImplementation(() => {
      throw new DOMException('blocked', 'SecurityError')
    })
    const op = fakeProvider()
    const starter = openTab(op)
    const warnings = events(starter)
    const url = await startLogin(starter)
    expect(warnings.some((e) => e.type === 'warning')).toBe(true)
    const callbackPage = openTab(op)
    await callbackPage.handleRedirect(op.authorize(url))
    expect(callbackPage.getState().status).toBe('authenticated')
  })

  it('a pending login that truly is missing says the likely causes, not only forgery', async () => {
    const op = fakeProvider()
    const url = await startLogin(openTab(op))
    const callback = op.authorize(url)
    await openTab(op).handleRedirect(callback)
    const err = await openTab(op).handleRedirect(callback).catch((e: AuthError) => e)
    expect(err).toMatchObject({ code: 'state_mismatch' })
    expect((err as AuthError).message).toMatch(/already used/)
    expect((err as AuthError).message).toMatch(/another browser/)
  })
})

describe('provider metadata', () => {
  const full = (op: ReturnType<typeof fakeProvider>, issuer: string) => ({ ...op.metadata, issuer })

  it.each([
    ['discovery, issuer as the provider spells it', ISSUER, false],
    ['discovery, issuer with a trailing slash', `${ISSUER}/`, false],
    ['metadata, issuer as the provider spells it', ISSUER, true],
    ['metadata, issuer with a trailing slash', `${ISSUER}/`, true],
  ])('a path-less issuer works either way: %s', async (_, issuer, withMetadata) => {
    const op = fakeProvider({ expiresIn: 0 })
    const { issuer: _i, ...rest } = full(op, issuer)
    const auth = openTab(op, { issuer, ...(withMetadata ? { metadata: rest } : {}) })
    await logIn(auth, op)
    expect(auth.getState().status).toBe('authenticated')
    await expect(auth.getAccessToken()).resolves.toMatch(/^at-/) // a refresh with an ID token (iss checked again)
  })

  it.each(['HTTPS://OP.EXAMPLE', 'https://op.example:443', 'https://op.example/.', 'https:op.example', 'https://op.example//'])(
    'follows only the trailing slash: an ID token with iss %s is refused',
    async (iss) => {
      const op = fakeProvider({ tamper: { claims: (c) => ({ ...c, iss }) } })
      const auth = openTab(op, { issuer: ISSUER })
      await expect(logIn(auth, op)).rejects.toMatchObject({ code: 'invalid_response' })
      expect(auth.getState().status).toBe('unauthenticated')
    },
  )

  it('partial metadata is merged over discovery (an endpoint discovery omits)', async () => {
    const { revocation_endpoint: _, ...withoutRevocation } = fakeProvider().metadata
    const op = fakeProvider({ metadata: { ...withoutRevocation, revocation_endpoint: undefined } })
    const auth = openTab(op, { metadata: { revocation_endpoint: `${ISSUER}/revoke` } })
    await logIn(auth, op)
    await auth.logout()
    expect(op.requests('/revoke')).toHaveLength(1)
    expect(op.requests('/.well-known/openid-configuration')).toHaveLength(1)
  })

  it('logout without a revocation endpoint warns that the refresh token was not revoked', async () => {
    const op = fakeProvider({ metadata: { revocation_endpoint: undefined } })
    const auth = openTab(op)
    await logIn(auth, op)
    const seen = events(auth)
    await auth.logout()
    await vi.waitFor(() => expect(seen.find((e) => e.type === 'warning')?.message).toMatch(/not revoked/))
    expect(auth.getState().status).toBe('unauthenticated')
  })

  it('a redirected discovery URL is a config error that names the redirect', async () => {
    const op = fakeProvider()
    const fetch = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) =>
      String(input).includes('/.well-known/') ? new Response(null, { status: 301, headers: { location: `${ISSUER}/.well-known/openid-configuration/` } }) : op.fetch(input, init),
    )
    const err = await openTab(op, { fetch: fetch as typeof globalThis.fetch }).login().catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'config' })
    expect((err as AuthError).message).toMatch(/redirect/)
    expect((err as AuthError).message).toMatch(/metadata/)
  })

  it.each([
    ['authorization_endpoint', 'javascript:alert(1)'],
    ['end_session_endpoint', 'javascript:alert(1)'],
    ['authorization_endpoint', 'http://op.example/auth'],
    ['token_endpoint', 'data:text/plain,x'],
  ])('refuses a discovered %s of %s (never reaches location.assign)', async (name, value) => {
    const op = fakeProvider({ metadata: { [name]: value } })
    const assign = vi.spyOn(window.location, 'assign').mockImplementation(() => {})
    await expect(openTab(op).login()).rejects.toMatchObject({ code: 'invalid_response' })
    expect(assign).not.toHaveBeenCalled()
  })

  it('refuses such an endpoint given in options.metadata as a config error', async () => {
    const op = fakeProvider()
    await expect(openTab(op, { metadata: { ...op.metadata, authorization_endpoint: 'javascript:alert(1)' } }).login()).rejects.toMatchObject({ code: 'config' })
  })
})

describe('userInfo: true', () => {
  it('merges the UserInfo claims into state.user after login, in every tab', async () => {
    const op = fakeProvider()
    const auth = openTab(op, { userInfo: true })
    const other = openTab(op, { userInfo: true })
    await logIn(auth, op)
    expect(auth.getState().user).toMatchObject({ sub: 'ada', email: 'ada@example.test', name: 'Ada Lovelace' })
    await vi.waitFor(() => expect(other.getState().user?.email).toBe('ada@example.test'))
    expect(op.requests('/userinfo')).toHaveLength(1)
  })

  it('is not asked without the option', async () => {
    const op = fakeProvider()
    const auth = openTab(op)
    await logIn(auth, op)
    expect(auth.getState().user?.email).toBeUndefined()
    expect(op.requests('/userinfo')).toHaveLength(0)
  })

  it('refuses a UserInfo answer about another sub: nothing merged, an invalid_response error event, still signed in', async () => {
    const op = fakeProvider({ userinfo: () => ({ sub: 'mallory', email: 'mallory@evil.example' }) })
    const auth = openTab(op, { userInfo: true })
    const seen = events(auth)
    await logIn(auth, op)
    expect(auth.getState().status).toBe('authenticated')
    expect(auth.getState().user?.email).toBeUndefined()
    expect(seen.find((e) => e.type === 'error')?.error?.code).toBe('invalid_response')
  })

  it("never lets UserInfo stand in for the ID token's protocol claims; later refreshes still pass the ID token checks", async () => {
    const op = fakeProvider({ expiresIn: 0, userinfo: () => ({ sub: 'ada', iss: 'https://evil.example', aud: 'evil', nonce: 'forged', name: 'Ada L.' }) })
    const auth = openTab(op, { userInfo: true })
    await logIn(auth, op)
    expect(auth.getState().user).toMatchObject({ sub: 'ada', iss: ISSUER, aud: 'spa', name: 'Ada L.' })
    expect(auth.getState().user?.nonce).not.toBe('forged')
    await expect(auth.getAccessToken()).resolves.toMatch(/^at-/)
    await expect(auth.getAccessToken({ forceRefresh: true })).resolves.toMatch(/^at-/)
    expect(auth.getState().status).toBe('authenticated')
  })

  it('asks again when a refresh brings a new ID token', async () => {
    let n = 0
    const op = fakeProvider({ expiresIn: 0, userinfo: () => ({ sub: 'ada', email: `ada${++n}@example.test` }) })
    const auth = openTab(op, { userInfo: true })
    await logIn(auth, op)
    expect(auth.getState().user?.email).toBe('ada1@example.test')
    await auth.getAccessToken()
    expect(auth.getState().user?.email).toBe('ada2@example.test')
  })
})

describe('popup login', () => {
  /** A stand-in for the popup window the browser would open. */
  function fakePopup() {
    return { closed: false, location: { href: 'about:blank' }, close() {
      this.closed = true
    } }
  }

  it("is refused at once in storage: 'memory' mode (the popup could not find the attempt): no window, no request", async () => {
    const open = vi.spyOn(window, 'open')
    const op = fakeProvider()
    await expect(openTab(op, { storage: 'memory' }).login({ popup: true })).rejects.toMatchObject({ code: 'config' })
    expect(open).not.toHaveBeenCalled()
    expect(op.fetch).not.toHaveBeenCalled()
  })

  it('rejects with popup_blocked at once when the browser blocks it', async () => {
    vi.spyOn(window, 'open').mockReturnValue(null)
    const op = fakeProvider()
    await expect(openTab(op).login({ popup: true })).rejects.toMatchObject({ code: 'popup_blocked' })
    expect(op.fetch).not.toHaveBeenCalled()
  })

  it('resolves with the signed-in state once the popup (another tab of the origin) finishes the login; the popup is closed', async () => {
    const popup = fakePopup()
    vi.spyOn(window, 'open').mockReturnValue(popup as unknown as Window)
    vi.spyOn(window, 'close').mockImplementation(() => {})
    const op = fakeProvider()
    const opener = openTab(op)
    const done = opener.login({ popup: true })
    await vi.waitFor(() => expect(popup.location.href).toMatch(/^https:\/\/op\.example\/auth/))
    // The popup's own page: the callback URL, handled by its own client.
    // (In the popup, handleRedirect never settles after a success: the popup is closing.)
    let settled = false
    void openTab(op).handleRedirect(op.authorize(popup.location.href)).finally(() => (settled = true))
    const state = await done
    expect(settled).toBe(false)
    expect(state.status).toBe('authenticated')
    expect(opener.getState()).toBe(state)
    expect(popup.closed).toBe(true)
  })

  it('rejects with popup_closed as soon as the user closes it, leaving no timer', async () => {
    const popup = fakePopup()
    vi.spyOn(window, 'open').mockReturnValue(popup as unknown as Window)
    const clear = vi.spyOn(globalThis, 'clearInterval')
    const op = fakeProvider()
    const done = openTab(op).login({ popup: true })
    await vi.waitFor(() => expect(popup.location.href).not.toBe('about:blank'))
    popup.closed = true
    await expect(done).rejects.toMatchObject({ code: 'popup_closed' })
    expect(clear).toHaveBeenCalled()
  })

  it.each([
    ['a "success" while this tab holds no login', undefined, 'invalid_response'],
    ['an error with a code outside AuthErrorCode', { code: 'totally_made_up', message: 'x' }, 'authorization_error'],
  ] as const)('a forged popup outcome (another script of the origin on the channel): %s', async (_, error, code) => {
    const popup = fakePopup()
    vi.spyOn(window, 'open').mockReturnValue(popup as unknown as Window)
    const op = fakeProvider()
    const opener = openTab(op, { name: 'forged-popup' })
    const done = opener.login({ popup: true })
    await vi.waitFor(() => expect(popup.location.href).not.toBe('about:blank'))
    const state = new URL(popup.location.href).searchParams.get('state')!
    const { createTabs } = await import('../../src/tabs.js')
    const forger = createTabs('forged-popup', 1000, () => {})
    forger.announce({ type: 'popup', state, ...(error ? { error } : {}) })
    await expect(done).rejects.toMatchObject({ name: 'AuthError', code })
    expect(opener.getState().status).toBe('unauthenticated')
    forger.close()
  })

  it("a login error in the popup rejects the opener's promise with it", async () => {
    const popup = fakePopup()
    vi.spyOn(window, 'open').mockReturnValue(popup as unknown as Window)
    Object.defineProperty(window, 'opener', { value: {}, configurable: true })
    try {
      const op = fakeProvider()
      const done = openTab(op).login({ popup: true })
      await vi.waitFor(() => expect(popup.location.href).not.toBe('about:blank'))
      const state = new URL(popup.location.href).searchParams.get('state')!
      const denied = `${REDIRECT}?error=access_denied&state=${state}&iss=${encodeURIComponent(ISSUER)}`
      await expect(openTab(op).handleRedirect(denied)).rejects.toMatchObject({ code: 'access_denied' })
      await expect(done).rejects.toMatchObject({ code: 'access_denied' })
      expect(popup.closed).toBe(true)
    } finally {
      Object.defineProperty(window, 'opener', { value: null, configurable: true })
    }
  })
})

describe('pushed authorization requests (PAR, RFC 9126)', () => {
  it('pushes the request and sends the browser with client_id and request_uri only; the login completes', async () => {
    const op = fakeProvider()
    const auth = openTab(op, { pushedAuthorization: true })
    const url = new URL(await startLogin(auth))
    expect([...url.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri'])
    expect(url.searchParams.get('client_id')).toBe('spa')
    const push = op.requests('/par')[0].params
    expect(push.get('code_challenge_method')).toBe('S256')
    expect(push.get('state')).toBeTruthy()
    expect(push.get('redirect_uri')).toBe(REDIRECT)
    await auth.handleRedirect(op.authorize(url.href))
    expect(auth.getState().status).toBe('authenticated')
  })

  it('is used automatically when the provider requires it', async () => {
    const op = fakeProvider({ metadata: { require_pushed_authorization_requests: true } })
    const url = new URL(await startLogin(openTab(op)))
    expect(url.searchParams.has('request_uri')).toBe(true)
    expect(url.searchParams.has('code_challenge')).toBe(false)
  })

  it('a refused push is a typed error, not a navigation to an error page; nothing pending is left', async () => {
    const op = fakeProvider({ par: () => Response.json({ error: 'invalid_request', error_description: 'bad scope' }, { status: 400 }) })
    const assign = vi.spyOn(window.location, 'assign').mockImplementation(() => {})
    const err = await openTab(op, { pushedAuthorization: true }).login().catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'AuthError', error: 'invalid_request', status: 400 })
    expect(assign).not.toHaveBeenCalled()
  })

  it('a provider without a PAR endpoint is a config error', async () => {
    const op = fakeProvider({ metadata: { pushed_authorization_request_endpoint: undefined } })
    await expect(openTab(op, { pushedAuthorization: true }).login()).rejects.toMatchObject({ code: 'config' })
  })

  it('is refused with tokenProxy (the push would need the secret)', () => {
    expect(() => openTab(fakeProvider(), { pushedAuthorization: true, tokenProxy: '/api/oauth' })).toThrow(/tokenProxy/)
  })
})

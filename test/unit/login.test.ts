import { beforeEach, describe, expect, it, vi } from 'vitest'
import { AuthError } from '../../src/index.js'
import { APP, fakeProvider, installFakeLocks, ISSUER, logIn, openTab, startLogin } from './helpers.js'

beforeEach(() => {
  installFakeLocks()
})

async function rejection(promise: Promise<unknown>): Promise<AuthError> {
  const err = await promise.then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(AuthError)
  return err as AuthError
}

describe('login()', () => {
  it('sends an authorization code request with PKCE S256, state and nonce', async () => {
    const op = fakeProvider()
    const url = new URL(await startLogin(openTab(op)))
    const p = url.searchParams
    expect(url.origin + url.pathname).toBe(`${ISSUER}/auth`)
    expect(p.get('response_type')).toBe('code')
    expect(p.get('client_id')).toBe('spa')
    expect(p.get('redirect_uri')).toBe(`${APP}/callback`)
    expect(p.get('code_challenge_method')).toBe('S256')
    expect(p.get('code_challenge')).toMatch(/^[\w-]{43}$/)
    expect(p.get('state')).toMatch(/^[\w-]{43}$/)
    expect(p.get('nonce')).toMatch(/^[\w-]{43}$/)
    // OIDC Core §11: offline_access is asked for with prompt=consent.
    expect(p.get('prompt')).toBe('consent')
  })

  it('uses a fresh state, verifier and nonce for every attempt', async () => {
    const op = fakeProvider()
    const auth = openTab(op)
    const seen = new Set<string>()
    for (let i = 0; i < 20; i++) {
      const p = new URL(await startLogin(auth)).searchParams
      for (const name of ['state', 'nonce', 'code_challenge']) seen.add(p.get(name)!)
    }
    expect(seen.size).toBe(60)
  })

  it('sends no nonce without the openid scope', async () => {
    const op = fakeProvider()
    const p = new URL(await startLogin(openTab(op, { scope: 'api' }))).searchParams
    expect(p.has('nonce')).toBe(false)
    expect(p.has('prompt')).toBe(false)
  })

  it('refuses a provider that offers only plain PKCE', async () => {
    const op = fakeProvider({ metadata: { code_challenge_methods_supported: ['plain'] } })
    const err = await rejection(openTab(op).login())
    expect(err.code).toBe('config')
    expect(err.message).toContain('S256')
  })

  it.each(['https://evil.example/', '//evil.example/x', '/\\evil.example/x', 'javascript:alert(1)', 'http://[', { toString: 1 }])('refuses returnTo %j on another origin', async (returnTo) => {
    const op = fakeProvider()
    const err = await rejection(openTab(op).login({ returnTo: returnTo as string }))
    expect(err.code).toBe('config')
  })

  it('refuses a discovery document for another issuer (RFC 8414 §3.3)', async () => {
    const op = fakeProvider({ metadata: { issuer: 'https://evil.example' } })
    const err = await rejection(openTab(op).login())
    expect(err.code).toBe('invalid_response')
  })
})

describe('handleRedirect()', () => {
  it('completes the login, stores the tokens, cleans the URL and returns returnTo', async () => {
    const op = fakeProvider()
    const auth = openTab(op)
    const listener = vi.fn()
    auth.subscribe(listener)
    const authorizeUrl = await startLogin(auth, { returnTo: '/inbox?folder=2#top' })
    const callback = op.authorize(authorizeUrl)
    history.replaceState(null, '', callback)
    const replace = vi.spyOn(history, 'replaceState')
    await expect(auth.handleRedirect()).resolves.toEqual({ returnTo: '/inbox?folder=2#top' })
    expect(replace).toHaveBeenCalled()
    expect(location.search).not.toMatch(/code|state|iss/)
    expect(auth.getState()).toMatchObject({ status: 'authenticated', user: { sub: 'ada', name: 'Ada' } })
    expect(listener).toHaveBeenCalledWith(expect.objectContaining({ status: 'authenticated' }), { type: 'login', fromOtherTab: false })
    // The code exchange carried the verifier and the exact redirect URI.
    const [exchange] = op.requests('/token', 'authorization_code')
    expect(exchange.params.get('code_verifier')).toMatch(/^[\w-]{43}$/)
    expect(exchange.params.get('redirect_uri')).toBe(`${APP}/callback`)
    await expect(auth.getAccessToken()).resolves.toBe('at-2')
  })

  it('returns null away from the redirect URI', async () => {
    const op = fakeProvider()
    await expect(openTab(op).handleRedirect(`${APP}/other?code=x&state=y`)).resolves.toBeNull()
    await expect(openTab(op).handleRedirect(`${APP}/callback`)).resolves.toBeNull()
  })

  describe('refuses a hostile or broken callback, sends no token request and keeps the session', () => {
    async function signedIn() {
      const op = fakeProvider()
      const auth = openTab(op)
      await logIn(auth, op)
      const before = await auth.getAccessToken()
      const tokenRequests = op.requests('/token').length
      const authorizeUrl = await startLogin(auth)
      const good = new URL(op.authorize(authorizeUrl))
      const check = async (callback: string, code: AuthError['code']) => {
        const err = await rejection(auth.handleRedirect(callback))
        expect(err.code).toBe(code)
        expect(await auth.getAccessToken()).toBe(before)
        expect(auth.getState().status).toBe('authenticated')
        return err
      }
      return { op, auth, good, check, tokenRequests }
    }
    const edit = (url: URL, change: (p: URLSearchParams) => void) => {
      const copy = new URL(url)
      change(copy.searchParams)
      return copy.href
    }

    it('a wrong state', async () => {
      const { good, check, op, tokenRequests } = await signedIn()
      await check(edit(good, (p) => p.set('state', 'forged')), 'state_mismatch')
      expect(op.requests('/token')).toHaveLength(tokenRequests)
    })

    it('a missing state', async () => {
      const { good, check } = await signedIn()
      await check(edit(good, (p) => p.delete('state')), 'state_mismatch')
    })

    it('a duplicated state', async () => {
      const { good, check } = await signedIn()
      await check(edit(good, (p) => p.append('state', p.get('state')!)), 'state_mismatch')
    })

    it('a replayed callback (the pending login is consumed once)', async () => {
      const { auth, good, check, op } = await signedIn()
      await auth.handleRedirect(good.href)
      const exchanges = op.requests('/token', 'authorization_code').length
      const err = await rejection(auth.handleRedirect(good.href))
      expect(err.code).toBe('state_mismatch')
      expect(op.requests('/token', 'authorization_code')).toHaveLength(exchanges)
      void check
    })

    it('error=access_denied with the provider description', async () => {
      const { good, check } = await signedIn()
      const err = await check(edit(good, (p) => (p.delete('code'), p.set('error', 'access_denied'), p.set('error_description', 'User said no'))), 'access_denied')
      expect(err.error).toBe('access_denied')
      expect(err.error_description).toBe('User said no')
    })

    it('an error with a forged state is a state error, not "access denied"', async () => {
      const { good, check } = await signedIn()
      await check(edit(good, (p) => (p.delete('code'), p.set('error', 'access_denied'), p.set('state', 'forged'))), 'state_mismatch')
    })

    it('a wrong iss (RFC 9207 mix-up defence)', async () => {
      const { good, check } = await signedIn()
      await check(edit(good, (p) => p.set('iss', 'https://evil.example')), 'invalid_response')
    })

    it('a missing iss when the provider advertises it', async () => {
      const { good, check } = await signedIn()
      await check(edit(good, (p) => p.delete('iss')), 'invalid_response')
    })

    it('a code the provider refuses (another client, expired)', async () => {
      const { good, check } = await signedIn()
      const err = await check(edit(good, (p) => p.set('code', 'stolen')), 'invalid_grant')
      expect(err.error).toBe('invalid_grant')
    })

    it('a callback in a tab with no pending login', async () => {
      const op = fakeProvider()
      const err = await rejection(openTab(op).handleRedirect(`${APP}/callback?code=c&state=s&iss=${ISSUER}`))
      expect(err.code).toBe('state_mismatch')
      expect(op.requests('/token')).toHaveLength(0)
    })

    it('an expired pending login (10 minutes)', async () => {
      const { auth, good, check } = await signedIn()
      const now = Date.now()
      vi.spyOn(Date, 'now').mockReturnValue(now + 10 * 60_000 + 1)
      const err = await rejection(auth.handleRedirect(good.href))
      vi.mocked(Date.now).mockRestore()
      expect(err.code).toBe('state_mismatch')
      expect(err.message).toContain('10 minutes')
      void check
    })

    it('an ID token with the wrong nonce stores nothing', async () => {
      const op = fakeProvider()
      const auth = openTab(op)
      const authorizeUrl = await startLogin(auth)
      const tampered = new URL(authorizeUrl)
      tampered.searchParams.set('nonce', 'other')
      const err = await rejection(auth.handleRedirect(op.authorize(tampered.href)))
      expect(err.code).toBe('invalid_response')
      expect(auth.getState().status).toBe('unauthenticated')
      await expect(auth.getAccessToken()).rejects.toMatchObject({ code: 'login_required' })
    })
  })
})

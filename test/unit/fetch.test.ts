import { beforeEach, describe, expect, it } from 'vitest'
import { APP, fakeProvider, installFakeLocks, logIn, openTab } from './helpers.js'

beforeEach(() => {
  installFakeLocks()
})

async function signedIn(options = {}) {
  const op = fakeProvider(options)
  const auth = openTab(op)
  await logIn(auth, op)
  const sent = () => op.fetch.mock.calls.map(([input, init]) => new Request(input as RequestInfo, init as RequestInit))
  return { op, auth, sent, token: await auth.getAccessToken() }
}

describe('auth.fetch', () => {
  it('adds exactly "Authorization: Bearer <token>" for an allowed origin', async () => {
    const { auth, sent, token } = await signedIn()
    const response = await auth.fetch('https://api.example/me')
    expect(response.status).toBe(200)
    expect(sent().at(-1)!.headers.get('authorization')).toBe(`Bearer ${token}`)
  })

  it('attaches the token to relative URLs on the page origin (the default apiOrigins)', async () => {
    const op = fakeProvider()
    const auth = openTab(op, { apiOrigins: undefined })
    await logIn(auth, op)
    await auth.fetch('/api/me')
    const last = op.fetch.mock.calls.at(-1)!
    const request = new Request(last[0] as RequestInfo, last[1] as RequestInit)
    expect(request.url).toBe(`${APP}/api/me`)
    expect(request.headers.get('authorization')).toMatch(/^Bearer at-/)
  })

  it.each([
    'https://api.example.evil.com/',
    'https://evil.com/?https://api.example',
    'https://api.example@evil.com/',
    'http://api.example/',
    'https://api.example:8443/',
    'data:text/plain,hi',
  ])('sends no token to %s and passes the call through untouched', async (url) => {
    const { auth, op } = await signedIn()
    const init = { method: 'GET', headers: { 'x-test': '1' } }
    await auth.fetch(url, init).catch(() => {})
    // The request that was checked is the one sent (fetch would build the same from url + init).
    // (A URL with credentials cannot be a Request at all: then url and init go to fetch as given, to fail there.)
    const [input, passedInit] = op.fetch.mock.calls.at(-1)!
    if (url.includes('@')) return expect([input, passedInit]).toEqual([url, init])
    expect(passedInit).toBeUndefined()
    expect(input).toBeInstanceOf(Request)
    const request = input as Request
    expect([request.url, request.method, request.headers.get('x-test'), request.headers.has('authorization')]).toEqual([new URL(url).href, 'GET', '1', false])
  })

  it('never overwrites an Authorization header the caller set', async () => {
    const { auth, op } = await signedIn()
    await auth.fetch('https://api.example/me', { headers: { Authorization: 'Basic abc' } })
    const [input, init] = op.fetch.mock.calls.at(-1)!
    expect(new Request(input as RequestInfo, init as RequestInit).headers.get('authorization')).toBe('Basic abc')
  })

  it('on a 401 refreshes once, retries once, and resends the body', async () => {
    const { auth, op, sent } = await signedIn()
    op.expireAccessTokens()
    const response = await auth.fetch('https://api.example/items', { method: 'POST', body: 'payload' })
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ ok: true, body: 'payload', token: 'at-3' })
    expect(op.requests('/token', 'refresh_token')).toHaveLength(1)
    expect(sent().filter((r) => r.url === 'https://api.example/items')).toHaveLength(2)
  })

  it('retries a Request object with a body after a 401', async () => {
    const { auth, op } = await signedIn()
    op.expireAccessTokens()
    const response = await auth.fetch(new Request('https://api.example/items', { method: 'POST', body: JSON.stringify({ a: 1 }) }))
    expect(await response.json()).toMatchObject({ body: '{"a":1}' })
  })

  it('returns the second 401 instead of looping', async () => {
    const { auth, op } = await signedIn({ api: () => new Response('', { status: 401 }) })
    const response = await auth.fetch('https://api.example/me')
    expect(response.status).toBe(401)
    expect(op.requests('/token', 'refresh_token')).toHaveLength(1)
    expect(op.requests('/me')).toHaveLength(2)
  })

  it('shares one refresh between concurrent 401s', async () => {
    const { auth, op } = await signedIn()
    op.expireAccessTokens()
    const responses = await Promise.all(Array.from({ length: 20 }, () => auth.fetch('https://api.example/me')))
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200))
    expect(op.requests('/token', 'refresh_token')).toHaveLength(1)
    expect(op.revoked).toBe(false)
  })

  it('does not refresh on a 401 from an origin that is not allowed', async () => {
    const { auth, op } = await signedIn()
    const response = await auth.fetch('https://elsewhere.example/x')
    expect(response.status).toBe(404)
    expect(op.requests('/token', 'refresh_token')).toHaveLength(0)
  })

  it('rejects with login_required when there is no session, for allowed origins only', async () => {
    const op = fakeProvider()
    const auth = openTab(op)
    await expect(auth.fetch('https://api.example/me')).rejects.toMatchObject({ code: 'login_required' })
    await expect(auth.fetch('https://elsewhere.example/x')).resolves.toBeInstanceOf(Response)
  })
})

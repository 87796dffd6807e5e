import { beforeEach, describe, expect, it, vi } from 'vitest'
import { fakeProvider, installFakeLocks, ISSUER, logIn, openTab, startLogin } from './helpers.js'

beforeEach(() => {
  installFakeLocks()
})

describe('discovery', () => {
  it('falls back to RFC 8414 when there is no OpenID Connect document', async () => {
    const op = fakeProvider()
    const fetch = op.fetch.getMockImplementation() as typeof globalThis.fetch
    op.fetch.mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
      const url = String(input instanceof Request ? input.url : input)
      if (url === `${ISSUER}/.well-known/openid-configuration`) return new Response('not found', { status: 404 })
      if (url === `${ISSUER}/.well-known/oauth-authorization-server`) return Response.json(op.metadata)
      return fetch(input, init)
    })
    const url = new URL(await startLogin(openTab(op)))
    expect(url.origin + url.pathname).toBe(`${ISSUER}/auth`)
  })

  it('is stored with a TTL: another tab (or a reload) reuses it; after the TTL it is fetched again', async () => {
    const op = fakeProvider()
    const discovery = () => op.requests('/.well-known/openid-configuration').length
    await startLogin(openTab(op, { discoveryTtl: 60 }))
    await startLogin(openTab(op, { discoveryTtl: 60 }))
    expect(discovery()).toBe(1)
    const clock = vi.spyOn(Date, 'now').mockReturnValue(Date.now() + 61_000)
    await startLogin(openTab(op, { discoveryTtl: 60 }))
    clock.mockRestore()
    expect(discovery()).toBe(2)
  })

  it('is skipped with explicit metadata (providers without a discovery document)', async () => {
    const op = fakeProvider()
    const { issuer: _, ...metadata } = op.metadata
    await startLogin(openTab(op, { metadata }))
    expect(op.requests('/.well-known/openid-configuration')).toHaveLength(0)
  })
})

describe('logout with RP-initiated logout', () => {
  it('revokes, clears, then sends the browser to end_session_endpoint with id_token_hint, client_id and post_logout_redirect_uri', async () => {
    const op = fakeProvider()
    const auth = openTab(op, { postLogoutRedirectUri: 'https://app.example/bye' })
    await logIn(auth, op)
    const order: string[] = []
    auth.subscribe((state, e) => e.type === 'logout' && order.push(`notified:${state.status}`))
    const assign = vi.spyOn(window.location, 'assign').mockImplementation((url) => void order.push(`assign:${url}`))
    await auth.logout()
    expect(op.requests('/revoke')).toHaveLength(1)
    expect(order[0]).toBe('notified:unauthenticated')
    const url = new URL(String(assign.mock.calls[0][0]))
    expect(url.origin + url.pathname).toBe(`${ISSUER}/logout`)
    expect(url.searchParams.get('client_id')).toBe('spa')
    expect(url.searchParams.get('post_logout_redirect_uri')).toBe('https://app.example/bye')
    expect(url.searchParams.get('id_token_hint')).toMatch(/^ey/)
  })

  it('stays local without postLogoutRedirectUri', async () => {
    const op = fakeProvider()
    const auth = openTab(op)
    await logIn(auth, op)
    const assign = vi.spyOn(window.location, 'assign').mockImplementation(() => {})
    await auth.logout()
    expect(assign).not.toHaveBeenCalled()
    expect(auth.getState().status).toBe('unauthenticated')
  })
})

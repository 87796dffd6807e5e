import { afterEach, describe, expect, it } from 'vitest'
import { AuthError, createClientCredentials, createTokenProxy } from '../../dist/server/index.js'
import { APP, fakeUpstream, formRequest, SECRET } from './helpers.js'

// A provider or gateway that quotes its request back: in error_description, error_uri, or an extra
// member of a 200. Whatever it quotes, the secret (as sent: raw, form-encoded, inside the Basic
// header) and the request's code, verifier and refresh token never reach the browser or Redis.
const verifier = 'v'.repeat(20) + 'Verifier-0123456789abcdefghij'
const code = 'the-authorization-code-7777'
const refresh = 'rt-refresh-token-value-8888'

const closers: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const close of closers.splice(0)) await close()
})

async function echoingUpstream(status: number, shape: 'error' | 'success') {
  const up = await fakeUpstream((req, res, body) => {
    const quoted = `${req.headers.authorization ?? ''} ${body} ${decodeURIComponent(body)}`
    res.statusCode = status
    res.setHeader('content-type', 'application/json')
    res.end(
      JSON.stringify(
        shape === 'error'
          ? { error: 'invalid_client', error_description: `bad credentials: ${quoted}`, error_uri: `https://docs.example/?req=${encodeURIComponent(quoted)}` }
          : { access_token: 'at-1', token_type: 'Bearer', expires_in: 60, scope: `scope ${quoted}`, debug: quoted, refresh_token: 'rt-2' },
      ),
    )
  })
  closers.push(up.close)
  return up
}

const secretForms = [SECRET, encodeURIComponent(SECRET), Buffer.from(`confidential:${SECRET}`).toString('base64')]

describe('the token proxy and an upstream that quotes its request', () => {
  it.each([
    ['client_secret_basic', 'authorization_code'],
    ['client_secret_post', 'authorization_code'],
    ['client_secret_basic', 'refresh_token'],
    ['client_secret_post', 'refresh_token'],
  ] as const)('%s, %s: the error fields come back without the secret, code, verifier or refresh token', async (method, grant) => {
    const up = await echoingUpstream(400, 'error')
    const proxy = createTokenProxy({ tokenEndpoint: `${up.url}/token`, clientId: 'confidential', clientSecret: SECRET, clientAuthentication: method, allowedOrigins: [APP], redirectUris: [`${APP}/callback`] })
    const params: Record<string, string> =
      grant === 'authorization_code' ? { grant_type: grant, code, redirect_uri: `${APP}/callback`, code_verifier: verifier } : { grant_type: grant, refresh_token: refresh }
    const response = await proxy(formRequest('/oauth/token', params))
    const text = await response.text()
    expect(response.status).toBe(400)
    expect(JSON.parse(text)).toMatchObject({ error: 'invalid_client', error_description: expect.stringContaining('bad credentials') })
    // The upstream really did see (and quote) them: the test would catch a leak.
    expect(up.received[0].headers.authorization ?? up.received[0].body).toMatch(method === 'client_secret_post' ? /client_secret=/ : /^Basic /)
    for (const value of [...secretForms, code, verifier, refresh]) expect(text).not.toContain(value)
  })

  it('passes only the token response members on a 200: no extra member, no secret in a quoted string', async () => {
    const up = await echoingUpstream(200, 'success')
    const proxy = createTokenProxy({ tokenEndpoint: `${up.url}/token`, clientId: 'confidential', clientSecret: SECRET, allowedOrigins: [APP], redirectUris: [`${APP}/callback`] })
    const response = await proxy(formRequest('/oauth/token', { grant_type: 'refresh_token', refresh_token: refresh }))
    const json = (await response.json()) as Record<string, unknown>
    expect(Object.keys(json).sort()).toEqual(['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type'])
    expect(json.access_token).toBe('at-1')
    expect(json.refresh_token).toBe('rt-2')
    for (const value of [...secretForms, refresh]) expect(JSON.stringify(json)).not.toContain(value)
  })

  it('never sends the secret to a discovered endpoint over plain http on another host', async () => {
    const issuer = 'https://op.example'
    const sent: string[] = []
    const fetch = (async (input: RequestInfo | URL) => {
      const url = String(input)
      sent.push(url)
      if (url.endsWith('/.well-known/openid-configuration')) return Response.json({ issuer, token_endpoint: 'http://internal.example:8080/token', revocation_endpoint: 'javascript:alert(1)' })
      return Response.json({ access_token: 'x', token_type: 'Bearer' })
    }) as typeof globalThis.fetch
    const proxy = createTokenProxy({ issuer, clientId: 'confidential', clientSecret: SECRET, allowedOrigins: [APP], redirectUris: [`${APP}/callback`], fetch })
    const response = await proxy(formRequest('/oauth/token', { grant_type: 'refresh_token', refresh_token: refresh }))
    expect(response.status).toBe(502)
    expect(sent.filter((u) => !u.includes('.well-known'))).toEqual([])
    const cc = createClientCredentials({ issuer, clientId: 'svc', clientSecret: SECRET, fetch, log: () => {} })
    await expect(cc.getToken()).rejects.toMatchObject({ code: 'config' })
    expect(sent.filter((u) => !u.includes('.well-known'))).toEqual([])
  })
})

describe('client_credentials and a provider that quotes its request', () => {
  it.each(['client_secret_basic', 'client_secret_post'] as const)('%s: the AuthError callers get holds no form of the secret', async (method) => {
    const up = await echoingUpstream(401, 'error')
    const cc = createClientCredentials({ tokenEndpoint: `${up.url}/token`, clientId: 'confidential', clientSecret: SECRET, clientAuthentication: method, log: () => {} })
    const err = (await cc.getToken().catch((e: unknown) => e)) as AuthError
    expect(err).toBeInstanceOf(AuthError)
    expect(err.code).toBe('config')
    expect(err.error_description).toContain('bad credentials')
    for (const value of secretForms) expect(JSON.stringify({ ...err, message: err.message })).not.toContain(value)
  })
})

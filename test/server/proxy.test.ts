import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startProvider } from '../../demo/provider.js'
import { AuthError, createTokenProxy, toNodeHandler, type FetchHandler } from '../../dist/server/index.js'
import { APP, fakeUpstream, formRequest, SECRET } from './helpers.js'

type Provider = Awaited<ReturnType<typeof startProvider>>

const verifier = 'v'.repeat(43)
const codeExchange = { grant_type: 'authorization_code', code: 'abc', redirect_uri: `${APP}/callback`, code_verifier: verifier, client_id: 'confidential' }

describe('createTokenProxy against a real oidc-provider', () => {
  let op: Provider
  let proxy: FetchHandler
  const logs: string[] = []
  const bodies: string[] = []
  const upstreamUrls: string[] = []

  beforeAll(async () => {
    op = await startProvider({ appOrigins: [APP], confidential: { clientId: 'confidential', clientSecret: SECRET } })
    proxy = createTokenProxy({
      issuer: op.issuer,
      clientId: 'confidential',
      clientSecret: SECRET,
      allowedOrigins: [APP],
      redirectUris: [`${APP}/callback`],
      log: (line) => logs.push(line),
      fetch: (input, init) => {
        upstreamUrls.push(String(input instanceof Request ? input.url : input))
        return fetch(input, init)
      },
    })
  })
  afterAll(async () => {
    await op?.close()
    // The secret never left the server: not in a log line, not in a response body.
    expect(logs.join('\n')).not.toContain(SECRET)
    expect(bodies.join('\n')).not.toContain(SECRET)
  })
  beforeEach(() => op.resetStats())

  async function send(request: Request) {
    const response = await proxy(request)
    const text = await response.text()
    bodies.push(text)
    return { status: response.status, headers: response.headers, json: text ? JSON.parse(text) : undefined }
  }

  it('forwards a code exchange with the secret and returns the provider JSON, no-store, with CORS for the origin', async () => {
    const { status, headers, json } = await send(formRequest('/api/oauth/token', codeExchange))
    // The code is made up, so the provider refuses it: but the request reached it, authenticated.
    expect(status).toBe(400)
    expect(json).toMatchObject({ error: 'invalid_grant' })
    expect(headers.get('cache-control')).toBe('no-store')
    expect(headers.get('access-control-allow-origin')).toBe(APP)
    expect(headers.get('vary')).toBe('Origin')
    expect(op.stats.requests['/token']).toBe(1)
    expect(op.stats.grantErrors[0]).toMatchObject({ error: 'invalid_grant' })
  })

  it('answers a CORS preflight only for allowed origins', async () => {
    const ok = await proxy(new Request('http://proxy.local/api/oauth/token', { method: 'OPTIONS', headers: { origin: APP } }))
    expect(ok.status).toBe(204)
    expect(ok.headers.get('access-control-allow-origin')).toBe(APP)
    const evil = await proxy(new Request('http://proxy.local/api/oauth/token', { method: 'OPTIONS', headers: { origin: 'https://evil.example' } }))
    expect(evil.status).toBe(403)
    expect(evil.headers.get('access-control-allow-origin')).toBeNull()
  })

  describe('refuses, without reaching the provider', () => {
    const cases: [string, Request, number, string][] = [
      ['a foreign Origin', formRequest('/token', codeExchange, { origin: 'https://evil.example' }), 403, 'invalid_request'],
      ['a missing Origin', new Request('http://proxy.local/token', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(codeExchange) }), 403, 'invalid_request'],
      ['grant_type=client_credentials', formRequest('/token', { grant_type: 'client_credentials', client_id: 'confidential' }), 400, 'unauthorized_client'],
      ['grant_type=password', formRequest('/token', { grant_type: 'password', username: 'a', password: 'b' }), 400, 'unauthorized_client'],
      ['another client_id', formRequest('/token', { ...codeExchange, client_id: 'other' }), 400, 'unauthorized_client'],
      ['an unregistered redirect_uri', formRequest('/token', { ...codeExchange, redirect_uri: 'https://evil.example/callback' }), 400, 'invalid_request'],
      ['a code exchange without code_verifier (PKCE)', formRequest('/token', { ...codeExchange, code_verifier: '' }), 400, 'invalid_request'],
      ['a duplicated parameter', new Request('http://proxy.local/token', { method: 'POST', headers: { origin: APP, 'content-type': 'application/x-www-form-urlencoded' }, body: `${new URLSearchParams(codeExchange)}&code=other` }), 400, 'invalid_request'],
      ['an oversized body', formRequest('/token', { ...codeExchange, pad: 'x'.repeat(20_000) }), 413, 'invalid_request'],
      ['a JSON body', new Request('http://proxy.local/token', { method: 'POST', headers: { origin: APP, 'content-type': 'application/json' }, body: JSON.stringify(codeExchange) }), 415, 'invalid_request'],
      ['a GET', new Request('http://proxy.local/token', { headers: { origin: APP } }), 405, 'invalid_request'],
      ['an unknown path', formRequest('/authorize', codeExchange), 404, 'invalid_request'],
      ['a refresh without refresh_token', formRequest('/token', { grant_type: 'refresh_token', client_id: 'confidential' }), 400, 'invalid_request'],
    ]
    it.each(cases)('%s', async (_, request, status, error) => {
      const answer = await send(request)
      expect(answer.status).toBe(status)
      expect(answer.json).toMatchObject({ error })
      expect(op.stats.requests['/token'] ?? 0).toBe(0)
      expect(logs.at(-1)).toContain(String(status))
    })
  })

  it('cannot be pointed at another upstream: request fields and Host headers are ignored', async () => {
    upstreamUrls.length = 0
    await send(formRequest('/token', { ...codeExchange, token_endpoint: 'https://evil.example/token', issuer: 'https://evil.example', resource: 'https://evil.example' }, { host: 'evil.example', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' }))
    expect(upstreamUrls.length).toBeGreaterThan(0)
    expect(upstreamUrls.every((u) => u.startsWith(op.issuer))).toBe(true)
    expect(op.stats.requests['/token']).toBe(1)
  })

  it('revokes through the provider revocation endpoint', async () => {
    const answer = await send(formRequest('/api/oauth/revoke', { token: 'unknown-token', token_type_hint: 'refresh_token', client_id: 'confidential' }))
    // RFC 7009 §2.2: 200 even for an unknown token.
    expect(answer.status).toBe(200)
    expect(op.stats.requests['/token/revocation']).toBe(1)
  })

  it('mounts on node:http through toNodeHandler, refusing oversized bodies with 413', async () => {
    const server = createServer(toNodeHandler(proxy))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    try {
      const ok = await fetch(`${base}/api/oauth/token`, { method: 'POST', headers: { origin: APP, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(codeExchange) })
      expect(ok.status).toBe(400)
      expect(await ok.json()).toMatchObject({ error: 'invalid_grant' })
      const big = await fetch(`${base}/api/oauth/token`, { method: 'POST', headers: { origin: APP, 'content-type': 'application/x-www-form-urlencoded' }, body: 'x='.padEnd(1_000_000, 'y') })
      expect(big.status).toBe(413)
    } finally {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    }
  })
})

describe('createTokenProxy against a misbehaving upstream', () => {
  const make = (tokenEndpoint: string, extra: Partial<Parameters<typeof createTokenProxy>[0]> = {}) =>
    createTokenProxy({ tokenEndpoint, clientId: 'confidential', clientSecret: SECRET, allowedOrigins: [APP], redirectUris: [`${APP}/callback`], ...extra })

  it('turns an HTML error page into a JSON server_error (502)', async () => {
    const up = await fakeUpstream((_req, res) => {
      res.writeHead(503, { 'content-type': 'text/html' })
      res.end('<html><body>Service Unavailable</body></html>')
    })
    const response = await make(`${up.url}/token`)(formRequest('/token', codeExchange))
    expect(response.status).toBe(502)
    expect(await response.json()).toMatchObject({ error: 'server_error' })
    await up.close()
  })

  it('never follows a redirect: the second host receives nothing', async () => {
    const elsewhere = await fakeUpstream((_req, res) => res.end('{}'))
    const up = await fakeUpstream((_req, res) => {
      res.writeHead(307, { location: `${elsewhere.url}/steal` })
      res.end()
    })
    const response = await make(`${up.url}/token`)(formRequest('/token', codeExchange))
    expect(response.status).toBe(502)
    expect(elsewhere.received).toHaveLength(0)
    await up.close()
    await elsewhere.close()
  })

  it('times out a slow upstream with 504', async () => {
    const up = await fakeUpstream(() => {})
    const response = await make(`${up.url}/token`, { timeout: 300 })(formRequest('/token', codeExchange))
    expect(response.status).toBe(504)
    expect(await response.json()).toMatchObject({ error: 'temporarily_unavailable' })
    await up.close()
  })

  it('sends the secret in the Authorization header by default, in the body with client_secret_post, and forwards only allowlisted parameters', async () => {
    const up = await fakeUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': 'x=1' })
      res.end(JSON.stringify({ access_token: 'at', token_type: 'Bearer' }))
    })
    const basic = await make(`${up.url}/token`)(formRequest('/token', { ...codeExchange, audience: 'x', client_secret: 'browser-sent' }))
    expect(basic.status).toBe(200)
    expect(basic.headers.get('set-cookie')).toBeNull()
    const [first] = up.received
    expect(first.headers.authorization).toBe(`Basic ${Buffer.from(`confidential:${SECRET}`).toString('base64')}`)
    expect(Object.fromEntries(new URLSearchParams(first.body))).toEqual({ grant_type: 'authorization_code', code: 'abc', redirect_uri: `${APP}/callback`, code_verifier: verifier })
    await make(`${up.url}/token`, { clientAuthentication: 'client_secret_post' })(formRequest('/token', codeExchange))
    const second = up.received[1]
    expect(second.headers.authorization).toBeUndefined()
    expect(new URLSearchParams(second.body).get('client_secret')).toBe(SECRET)
    await up.close()
  })

  it('passes back only error, error_description and error_uri of an upstream that echoes its request (secret included)', async () => {
    const echo = (status: number) =>
      fakeUpstream((req, res, body) => {
        res.writeHead(status, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ error: 'invalid_grant', error_description: 'd'.repeat(2000), error_uri: 'https://op.example/e', error_code: 7, headers: req.headers, body, host: req.headers.host }))
      })
    for (const clientAuthentication of ['client_secret_basic', 'client_secret_post'] as const) {
      const up = await echo(400)
      const response = await make(`${up.url}/token`, { clientAuthentication })(formRequest('/token', codeExchange))
      const text = await response.text()
      expect(response.status).toBe(400)
      expect(Object.keys(JSON.parse(text)).sort()).toEqual(['error', 'error_description', 'error_uri'])
      expect(JSON.parse(text).error_description).toHaveLength(512)
      for (const leak of [SECRET, Buffer.from(`confidential:${SECRET}`).toString('base64'), up.url.slice(7)]) expect(text).not.toContain(leak)
      await up.close()
    }
    // A 200 that is no token response (no access_token) is a 502, with nothing of it.
    const up = await fakeUpstream((req, res, body) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ echoed: req.headers.authorization, body }))
    })
    const response = await make(`${up.url}/token`)(formRequest('/token', codeExchange))
    const text = await response.text()
    expect(response.status).toBe(502)
    expect(JSON.parse(text)).toMatchObject({ error: 'server_error' })
    expect(text).not.toContain(Buffer.from(`confidential:${SECRET}`).toString('base64'))
    // An error status whose JSON carries no OAuth error: 502, nothing of it.
    const bare = await fakeUpstream((req, res) => {
      res.writeHead(401, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ message: `bad credentials ${req.headers.authorization}` }))
    })
    const unauthorized = await make(`${bare.url}/token`)(formRequest('/token', codeExchange))
    expect(unauthorized.status).toBe(502)
    expect(await unauthorized.text()).not.toContain('Basic')
    await up.close()
    await bare.close()
  })

  it('times the whole exchange: a body that stalls after the headers is a 504, not a 502', async () => {
    const up = await fakeUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write('{"access_token":"at",') // and nothing more
    })
    const response = await make(`${up.url}/token`, { timeout: 300 })(formRequest('/token', codeExchange))
    expect(response.status).toBe(504)
    expect(await response.json()).toMatchObject({ error: 'temporarily_unavailable' })
    await up.close()
  })

  it('caps the upstream answer (64 KiB by default): declared or streamed, a larger one is a 502', async () => {
    const big = JSON.stringify({ access_token: 'at', pad: 'x'.repeat(70_000) })
    const declared = await fakeUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(big) })
      res.end(big)
    })
    const streamed = await fakeUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }) // chunked, no length
      res.end(big)
    })
    for (const up of [declared, streamed]) {
      const response = await make(`${up.url}/token`)(formRequest('/token', codeExchange))
      expect(response.status).toBe(502)
      expect(await response.json()).toMatchObject({ error: 'server_error', error_description: 'Provider answer too large' })
      await up.close()
    }
    const small = await fakeUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(big)
    })
    expect((await make(`${small.url}/token`, { maxAnswerBytes: 100_000 })(formRequest('/token', codeExchange))).status).toBe(200)
    await small.close()
  })

  it('CORS exposes Retry-After, WWW-Authenticate and DPoP-Nonce; forwards them from upstream and the DPoP proof to it', async () => {
    const up = await fakeUpstream((_req, res) => {
      res.writeHead(400, { 'content-type': 'application/json', 'retry-after': '7', 'www-authenticate': 'DPoP error="use_dpop_nonce"', 'dpop-nonce': 'n-1', 'x-internal': 'secret-host' })
      res.end(JSON.stringify({ error: 'use_dpop_nonce' }))
    })
    const proof = 'eyJhbGciOiJFUzI1NiJ9.eyJqdGkiOiIxIn0.c2ln'
    const response = await make(`${up.url}/token`)(formRequest('/token', codeExchange, { dpop: proof }))
    expect(response.status).toBe(400)
    expect(response.headers.get('access-control-expose-headers')).toBe('retry-after, www-authenticate, dpop-nonce')
    expect(response.headers.get('retry-after')).toBe('7')
    expect(response.headers.get('www-authenticate')).toBe('DPoP error="use_dpop_nonce"')
    expect(response.headers.get('dpop-nonce')).toBe('n-1')
    expect(response.headers.get('x-internal')).toBeNull()
    expect(up.received[0].headers.dpop).toBe(proof)
    // A DPoP header that is no compact JWS never reaches the provider.
    const bad = await make(`${up.url}/token`)(formRequest('/token', codeExchange, { dpop: 'a.b' }))
    expect(bad.status).toBe(400)
    expect(await bad.json()).toMatchObject({ error: 'invalid_dpop_proof' })
    expect(up.received).toHaveLength(1)
    await up.close()
  })

  it('escapes CR, LF and control characters of request-derived values in log lines', async () => {
    const lines: string[] = []
    const proxy = make('https://op.example/token', { log: (line) => lines.push(line) })
    const inject = '\r\noauth-tabs proxy: 200 ok\u001b[2K'
    await proxy(formRequest('/token', { grant_type: `x${inject}` }))
    await proxy(new Request('http://proxy.local/token', { method: 'POST', headers: { origin: APP, 'content-type': 'application/x-www-form-urlencoded' }, body: `a${encodeURIComponent(inject)}=1&a${encodeURIComponent(inject)}=2` }))
    await proxy(new Request(`http://proxy.local/x${encodeURIComponent('\n')}y`, { method: 'POST', headers: { origin: APP } }))
    await proxy(formRequest('/token', codeExchange, { origin: `https://evil.example\u001b[31m` }))
    await proxy(new Request('http://proxy.local/token', { method: 'PROPFIND', headers: { origin: APP } }))
    expect(lines).toHaveLength(5)
    // eslint-disable-next-line no-control-regex -- finding control characters is the point
    for (const line of lines) expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/)
    expect(lines[0]).toContain('grant_type x\\u000d\\u000aoauth-tabs proxy: 200 ok\\u001b[2K')
    expect(lines[1]).toContain('duplicate a\\u000d\\u000aoauth-tabs')
    expect(lines[3]).toContain('origin https://evil.example\\u001b[31m')
    expect(lines[4]).toContain('method PROPFIND')
  })

  it('refuses bad configuration with typed errors', () => {
    expect(() => createTokenProxy({ tokenEndpoint: 'https://op.example/token', clientId: 'c', clientSecret: 's', allowedOrigins: [], redirectUris: ['https://a/cb'] })).toThrow(AuthError)
    expect(() => createTokenProxy({ tokenEndpoint: 'https://op.example/token', clientId: 'c', clientSecret: 's', allowedOrigins: ['not a url'], redirectUris: ['https://a/cb'] })).toThrow(AuthError)
    expect(() => createTokenProxy({ tokenEndpoint: 'https://op.example/token', clientId: 'c', clientSecret: 's', allowedOrigins: [APP], redirectUris: ['/relative'] })).toThrow(AuthError)
    expect(() => createTokenProxy({ tokenEndpoint: 'http://op.example/token', clientId: 'c', clientSecret: 's', allowedOrigins: [APP], redirectUris: ['https://a/cb'] })).toThrow(/https/)
    expect(() => createTokenProxy({ tokenEndpoint: 'https://op.example/token', clientId: 'c', allowedOrigins: [APP], redirectUris: ['https://a/cb'] })).toThrow(/clientSecret/)
    expect(() => createTokenProxy({ tokenEndpoint: 'https://op.example/token', clientId: 'c', clientSecret: 's', allowedOrigins: [APP], redirectUris: [], grantTypes: ['client_credentials' as never] })).toThrow(/grantTypes/)
  })
})

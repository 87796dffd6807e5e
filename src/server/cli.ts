#!/usr/bin/env node
// `npx oauth-tabs-server`: the token proxy as a standalone process, configured by environment.
// A bad variable stops it at start with one line naming the variable (exit code 1), never later.
import { createServer } from 'node:http'
import { AuthError } from '../errors.js'
import { logSafe } from './log-safe.js'
import { createTokenProxy, type FetchHandler } from './proxy.js'
import { toNodeHandler } from './node.js'

const env = process.env
const list = (value: string | undefined) => (value ?? '').split(',').map((s) => s.trim()).filter(Boolean)

function fail(message: string): never {
  console.error(`oauth-tabs-server: ${message}`)
  process.exit(1)
}

function config() {
  const port = Number(env.PORT ?? 8787)
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`PORT must be a port number; got "${logSafe(env.PORT)}"`)
  const prefix = (env.OAUTH_PROXY_PATH ?? '/oauth').replace(/\/+$/, '')
  if (!/^(\/[A-Za-z0-9\-._~%!$&'()*+,;=:@]+)*$/.test(prefix)) fail(`OAUTH_PROXY_PATH must be a path like /oauth; got "${logSafe(env.OAUTH_PROXY_PATH)}"`)
  const timeout = env.OAUTH_TIMEOUT === undefined ? undefined : Number(env.OAUTH_TIMEOUT)
  if (timeout !== undefined && !(timeout > 0)) fail(`OAUTH_TIMEOUT must be milliseconds; got "${logSafe(env.OAUTH_TIMEOUT)}"`)
  let proxy: FetchHandler
  try {
    proxy = createTokenProxy({
      issuer: env.OAUTH_ISSUER || undefined,
      tokenEndpoint: env.OAUTH_TOKEN_ENDPOINT || undefined,
      revocationEndpoint: env.OAUTH_REVOCATION_ENDPOINT || undefined,
      clientId: env.OAUTH_CLIENT_ID ?? '',
      clientSecret: env.OAUTH_CLIENT_SECRET,
      clientAuthentication: (env.OAUTH_CLIENT_AUTH || undefined) as 'client_secret_basic' | 'client_secret_post' | undefined,
      allowedOrigins: list(env.OAUTH_ALLOWED_ORIGINS),
      redirectUris: list(env.OAUTH_REDIRECT_URIS),
      timeout,
      log: (line) => console.warn(line),
    })
  } catch (err) {
    if (err instanceof AuthError) fail(err.message.replace(/options\.(\w+)/g, (_, name: string) => `${name} (${ENV_NAMES[name] ?? 'environment'})`))
    throw err
  }
  return { port, prefix, proxy, host: env.HOST || '127.0.0.1' }
}

const ENV_NAMES: Record<string, string> = {
  issuer: 'OAUTH_ISSUER',
  tokenEndpoint: 'OAUTH_TOKEN_ENDPOINT',
  revocationEndpoint: 'OAUTH_REVOCATION_ENDPOINT',
  clientId: 'OAUTH_CLIENT_ID',
  clientSecret: 'OAUTH_CLIENT_SECRET',
  clientAuthentication: 'OAUTH_CLIENT_AUTH',
  allowedOrigins: 'OAUTH_ALLOWED_ORIGINS',
  redirectUris: 'OAUTH_REDIRECT_URIS',
}

const { port, prefix, proxy, host } = config()
const handle = toNodeHandler(proxy)

const server = createServer((req, res) => {
  if (!(req.url ?? '').startsWith(`${prefix}/`)) {
    res.writeHead(404, { 'content-type': 'application/json', 'cache-control': 'no-store' })
    res.end(JSON.stringify({ error: 'invalid_request', error_description: 'Unknown endpoint' }))
    return
  }
  handle(req, res)
})
// A token request is a few hundred bytes: a client trickling it (slow-loris) is cut off after 15 s
// instead of Node's default of 5 minutes per connection.
server.requestTimeout = 15_000
server.headersTimeout = 10_000
// CONNECT never reaches the request listener; answer it rather than drop the connection.
server.on('connect', (_req, socket) => {
  socket.on('error', () => {})
  socket.end('HTTP/1.1 405 Method Not Allowed\r\nallow: POST, OPTIONS\r\ncontent-length: 0\r\nconnection: close\r\n\r\n')
})
server.on('error', (err) => fail(`cannot listen on ${host}:${port}: ${err.message}`))
server.listen(port, host, () => console.log(`oauth-tabs token proxy on http://${host}:${port}${prefix}/token and ${prefix}/revoke`))

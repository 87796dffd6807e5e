#!/usr/bin/env node
// `npx oauth-tabs-server`: the token proxy as a standalone process, configured by environment.
import { createServer } from 'node:http'
import { createTokenProxy } from './proxy.js'
import { toNodeHandler } from './node.js'

const env = process.env
const list = (value: string | undefined) => (value ?? '').split(',').map((s) => s.trim()).filter(Boolean)

const proxy = createTokenProxy({
  issuer: env.OAUTH_ISSUER,
  tokenEndpoint: env.OAUTH_TOKEN_ENDPOINT,
  revocationEndpoint: env.OAUTH_REVOCATION_ENDPOINT,
  clientId: env.OAUTH_CLIENT_ID ?? '',
  clientSecret: env.OAUTH_CLIENT_SECRET,
  clientAuthentication: (env.OAUTH_CLIENT_AUTH as 'client_secret_basic' | 'client_secret_post' | undefined) ?? undefined,
  allowedOrigins: list(env.OAUTH_ALLOWED_ORIGINS),
  redirectUris: list(env.OAUTH_REDIRECT_URIS),
  log: (line) => console.warn(line),
})
const prefix = env.OAUTH_PROXY_PATH ?? '/oauth'
const handle = toNodeHandler(proxy)
const port = Number(env.PORT ?? 8787)
const host = env.HOST ?? '127.0.0.1'

createServer((req, res) => {
  if (!(req.url ?? '').startsWith(`${prefix}/`)) {
    res.statusCode = 404
    res.end()
    return
  }
  handle(req, res)
}).listen(port, host, () => console.log(`oauth-tabs token proxy on http://${host}:${port}${prefix}/token and ${prefix}/revoke`))

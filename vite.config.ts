import { defineConfig, type Plugin } from 'vite'
import { dpopMode } from './demo/dpop-mode.js'
import { createApi, startProvider } from './demo/provider.js'
import { createTokenProxy, toNodeHandler } from './src/server/index.js'

// `npm start`: the demo page on http://127.0.0.1:5173 and, unless VITE_ISSUER points at another
// provider, a real OpenID Provider (oidc-provider) on http://127.0.0.1:5174, plus the demo API.
const APP_PORT = Number(process.env.PORT ?? 5173)
const OP_PORT = Number(process.env.OP_PORT ?? 5174)
const embedded = !process.env.VITE_ISSUER
// DEMO_CONFIDENTIAL=1 (npm run start:confidential): the provider's client requires a secret, which
// only the token proxy mounted at /api/oauth knows; the page sends code exchange, refresh and
// revocation there.
const confidential = embedded && process.env.DEMO_CONFIDENTIAL === '1'
const DEMO_SECRET = process.env.OAUTH_CLIENT_SECRET ?? 'demo-only-secret-never-in-the-browser'
if (embedded) {
  process.env.VITE_ISSUER = `http://127.0.0.1:${OP_PORT}`
  process.env.VITE_CLIENT_ID ??= confidential ? 'demo-confidential' : 'demo-spa'
  if (confidential) process.env.VITE_TOKEN_PROXY ??= '/api/oauth'
}

function demoProvider(): Plugin {
  return {
    name: 'oauth-tabs-demo-provider',
    apply: 'serve',
    async configureServer(server) {
      const issuer = process.env.VITE_ISSUER!
      // Both spellings of loopback are registered: redirect URIs are matched exactly.
      const appOrigins = [`http://127.0.0.1:${APP_PORT}`, `http://localhost:${APP_PORT}`]
      // VITE_DPOP=1: DPoP-bound JWT access tokens, checked by the demo API (demo/dpop-mode.js).
      const dpop = dpopMode(process.env, appOrigins[0])
      // The provider's own count of refresh_token grants (its `grant.success` events) since `npm start`;
      // null with an external provider (VITE_ISSUER), whose grants this server cannot see.
      let refreshGrants = (): number | null => null
      if (embedded) {
        const op = await startProvider({
          port: OP_PORT,
          appOrigins,
          accessTokenTtl: Number(process.env.DEMO_ACCESS_TOKEN_TTL ?? 30),
          confidential: confidential ? { clientId: 'demo-confidential', clientSecret: DEMO_SECRET } : undefined,
          ...dpop.provider,
        })
        refreshGrants = () => op.stats.grants.refresh_token ?? 0
        server.httpServer?.once('close', () => void op.close())
        server.config.logger.info(`\n  OpenID Provider (oidc-provider): ${op.issuer}  (any user name and password log in)\n`)
      }
      if (confidential) {
        const proxy = createTokenProxy({
          issuer,
          clientId: 'demo-confidential',
          clientSecret: DEMO_SECRET,
          allowedOrigins: appOrigins,
          redirectUris: appOrigins.flatMap((o) => [`${o}/callback`, `${o}/react.html`]),
          log: (line) => server.config.logger.warn(line),
        })
        server.middlewares.use('/api/oauth', toNodeHandler(proxy))
        server.config.logger.info('  Confidential client mode: token requests go through the proxy at /api/oauth\n')
      }
      server.middlewares.use('/demo/stats', (_req, res) => {
        res.setHeader('content-type', 'application/json')
        res.setHeader('cache-control', 'no-store')
        res.end(JSON.stringify({ refreshGrants: refreshGrants() }))
      })
      const api = createApi(issuer, embedded ? dpop.api : {})
      server.middlewares.use('/api/me', (req, res) => void api.handle(req, res))
    },
  }
}

export default defineConfig({
  // RFC 9700 §4.2.4: the callback URL carries the code; no request may send it as a Referer. The
  // header covers what index.html's <meta> cannot: vite puts its client script before that tag.
  server: { host: '127.0.0.1', port: APP_PORT, strictPort: true, headers: { 'referrer-policy': 'no-referrer' } },
  preview: { headers: { 'referrer-policy': 'no-referrer' } },
  plugins: [demoProvider()],
})

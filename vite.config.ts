import { defineConfig, type Plugin } from 'vite'
import { createApi, startProvider } from './demo/provider.js'

// `npm start`: the demo page on http://127.0.0.1:5173 and, unless VITE_ISSUER points at another
// provider, a real OpenID Provider (oidc-provider) on http://127.0.0.1:5174, plus the demo API.
const APP_PORT = Number(process.env.PORT ?? 5173)
const OP_PORT = Number(process.env.OP_PORT ?? 5174)
const embedded = !process.env.VITE_ISSUER
if (embedded) {
  process.env.VITE_ISSUER = `http://127.0.0.1:${OP_PORT}`
  process.env.VITE_CLIENT_ID ??= 'demo-spa'
}

function demoProvider(): Plugin {
  return {
    name: 'oauth-tabs-demo-provider',
    apply: 'serve',
    async configureServer(server) {
      const issuer = process.env.VITE_ISSUER!
      if (embedded) {
        const op = await startProvider({
          port: OP_PORT,
          // Both spellings of loopback are registered: redirect URIs are matched exactly.
          appOrigins: [`http://127.0.0.1:${APP_PORT}`, `http://localhost:${APP_PORT}`],
          accessTokenTtl: Number(process.env.DEMO_ACCESS_TOKEN_TTL ?? 30),
        })
        server.httpServer?.once('close', () => void op.close())
        server.config.logger.info(`\n  OpenID Provider (oidc-provider): ${op.issuer}  (any user name and password log in)\n`)
      }
      const api = createApi(issuer)
      server.middlewares.use('/api/me', (req, res) => void api.handle(req, res))
    },
  }
}

export default defineConfig({
  server: { host: '127.0.0.1', port: APP_PORT, strictPort: true },
  plugins: [demoProvider()],
})

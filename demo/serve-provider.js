// `npm run provider`: only the demo's OpenID Provider (oidc-provider), for trying oauth-tabs in an app
// of your own. Registers the public client `demo-spa` (PKCE, rotating refresh tokens) with the redirect
// URI `<origin>/callback` and the post-logout URI `<origin>/` of every origin in APP_ORIGINS.
import { startProvider } from './provider.js'

const appOrigins = (process.env.APP_ORIGINS ?? 'http://localhost:5173,http://127.0.0.1:5173')
  .split(',')
  .map((o) => o.trim())
  .filter(Boolean)
for (const origin of appOrigins) {
  if (new URL(origin).origin !== origin) {
    console.error(`APP_ORIGINS: "${origin}" is not an origin (scheme://host:port, no path)`)
    process.exit(1)
  }
}
const op = await startProvider({ port: Number(process.env.OP_PORT ?? 5174), appOrigins, accessTokenTtl: Number(process.env.DEMO_ACCESS_TOKEN_TTL ?? 30) })
console.log(`OpenID Provider on ${op.issuer} (any user name and password log in)
client_id: demo-spa (public, PKCE)
redirect URIs: ${appOrigins.map((o) => `${o}/callback`).join(', ')}
post-logout URIs: ${appOrigins.map((o) => `${o}/`).join(', ')}`)
const stop = () => op.close().then(() => process.exit(0))
process.on('SIGINT', stop)
process.on('SIGTERM', stop)

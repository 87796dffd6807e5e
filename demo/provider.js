// An embedded, real OpenID Provider (the `oidc-provider` package) for the demo, the
// end-to-end tests and the benchmark. Loopback only. It counts what the tests assert:
// requests per path and grants per grant type, read from the provider's own events.
import { createServer } from 'node:http'
import Provider from 'oidc-provider'

/**
 * @typedef {object} ProviderOptions
 * @property {number} [port] - 0 picks a free port
 * @property {string[]} appOrigins - origins of the SPA (redirect URIs: origin + '/callback', and origin + '/react.html' for the React page)
 * @property {number} [accessTokenTtl] - access token lifetime in seconds
 * @property {{ clientId: string, clientSecret: string }} [confidential] - also register a client that needs a secret
 * @property {{ keys: object[] }} [jwks] - signing keys, private JWKs; the first RS256 key signs ID tokens (default: oidc-provider's
 *   development keys). A key rotation: start again on the same port with the new key first.
 * @property {any} [adapter] - oidc-provider storage adapter (default: its in-memory one, which a restart empties)
 */

/**
 * The provider's logout page. When the RP sent an `id_token_hint` for the user signed in here, the
 * question is skipped (OpenID RP-Initiated Logout 1.0 §2 requires it only otherwise): the form posts
 * itself and the browser goes straight back to the app's `post_logout_redirect_uri`. Otherwise the
 * user is asked. No web font: it works offline.
 */
async function logoutSource(ctx, form) {
  const hint = ctx.oidc.entities.IdTokenHint?.payload
  const sameUser = hint !== undefined && ctx.oidc.session.accountId !== undefined && hint.sub === ctx.oidc.session.accountId
  const page = (body) => `<!doctype html><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" content="no-referrer"><title>Sign out</title><body style="font-family:system-ui,sans-serif;margin:3em 1.5em">${body}</body>`
  if (sameUser) {
    const confirmed = form.replace('</form>', '<input type="hidden" name="logout" value="yes"/></form>')
    ctx.body = page(`${confirmed}<p>Signing out…</p><noscript><button type="submit" form="op.logoutForm">Continue</button></noscript><script>document.getElementById('op.logoutForm').submit()</script>`)
    return
  }
  ctx.body = page(`${form}<p>Sign out of the demo provider?</p><button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button> <button type="submit" form="op.logoutForm">No, stay signed in</button>`)
}

/** Shown only when logout named no `post_logout_redirect_uri`: a link back to the client's app when known, no web font. */
async function postLogoutSuccessSource(ctx) {
  const back = ctx.oidc.client?.postLogoutRedirectUris?.[0]
  const link = back ? `<p><a href="${encodeURI(back)}">Back to the app</a></p>` : ''
  ctx.body = `<!doctype html><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Signed out</title><body style="font-family:system-ui,sans-serif;margin:3em 1.5em"><p>You are signed out of the demo provider.</p>${link}</body>`
}

/** Starts the provider on 127.0.0.1; resolves when it listens. @param {ProviderOptions} options */
export async function startProvider(options) {
  const { appOrigins, accessTokenTtl = 30, confidential } = options
  const server = createServer()
  await new Promise((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve))
  const issuer = `http://127.0.0.1:${server.address().port}`

  const spa = {
    client_id: 'demo-spa',
    application_type: 'web',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: appOrigins.flatMap((o) => [`${o}/callback`, `${o}/react.html`]),
    post_logout_redirect_uris: appOrigins.flatMap((o) => [`${o}/`, `${o}/react.html`]),
  }
  const clients = [spa]
  if (confidential) {
    clients.push({
      ...spa,
      client_id: confidential.clientId,
      client_secret: confidential.clientSecret,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    })
  }

  const provider = new Provider(issuer, {
    ...(options.jwks ? { jwks: options.jwks } : {}),
    ...(options.adapter ? { adapter: options.adapter } : {}),
    clients,
    cookies: { keys: ['oauth-tabs-demo-cookie-key-not-secret'] },
    pkce: { required: () => true },
    // Rotation is what makes a reused refresh token fatal: the provider revokes the grant.
    rotateRefreshToken: true,
    scopes: ['openid', 'offline_access', 'profile', 'email', 'api'],
    // oidc-provider's default (conformIdTokenClaims): when an access token is issued, profile and email
    // claims go to UserInfo only, not into the ID token, as with many spec-conformant providers.
    claims: { openid: ['sub'], profile: ['name'], email: ['email'] },
    ttl: { AccessToken: accessTokenTtl, IdToken: 3600, RefreshToken: 14 * 86400, Grant: 14 * 86400, Session: 86400, Interaction: 3600, AuthorizationCode: 60, ClientCredentials: accessTokenTtl },
    features: {
      devInteractions: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
      clientCredentials: { enabled: Boolean(confidential) },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource,
        postLogoutSuccessSource,
      },
    },
    findAccount: (_ctx, id) => ({
      accountId: id,
      claims: () => ({ sub: id, name: id.charAt(0).toUpperCase() + id.slice(1), email: `${id}@example.test` }),
    }),
  })
  provider.proxy = false

  const stats = {
    /** Requests seen, by path (e.g. '/token', '/.well-known/openid-configuration'). */
    requests: /** @type {Record<string, number>} */ ({}),
    /** Successful grants, by grant_type. */
    grants: /** @type {Record<string, number>} */ ({}),
    /** Failed grants: error and the provider's internal detail ('refresh token already used', ...). */
    grantErrors: /** @type {{ grant_type: string, error: string, detail?: string }[]} */ ([]),
    /** Grants revoked (reuse detection or revocation). */
    revokedGrants: 0,
    /** Tokens revoked through the revocation endpoint. */
    revocations: 0,
  }
  /** Milliseconds by which to delay every token endpoint request (a slow network). */
  let tokenDelay = 0
  /** Called before a token request is handled; may answer it instead (fault injection). */
  let tokenFault = /** @type {((ctx: any) => Promise<boolean> | boolean) | undefined} */ (undefined)

  /** How many upcoming token responses to lose after the provider has processed the request. */
  let loseResponses = 0

  provider.use(async (ctx, next) => {
    stats.requests[ctx.path] = (stats.requests[ctx.path] ?? 0) + 1
    if (ctx.path === '/token') {
      if (tokenDelay) await new Promise((r) => setTimeout(r, tokenDelay))
      if (tokenFault && (await tokenFault(ctx))) return
      if (loseResponses > 0) {
        loseResponses -= 1
        await next()
        // Processed (a refresh token consumed), but the answer never arrives.
        ctx.req.socket.destroy()
        return
      }
    }
    await next()
  })
  provider.on('grant.success', (ctx) => {
    const type = ctx.oidc.params.grant_type
    stats.grants[type] = (stats.grants[type] ?? 0) + 1
  })
  provider.on('grant.error', (ctx, err) => {
    stats.grantErrors.push({ grant_type: ctx.oidc.params?.grant_type, error: err.error, detail: err.error_detail })
  })
  provider.on('grant.revoked', () => {
    stats.revokedGrants += 1
  })
  // oidc-provider emits no event for a successful revocation; a revoked refresh token is
  // destroyed (rotation consumes it instead), so count destructions.
  provider.on('refresh_token.destroyed', () => {
    stats.revocations += 1
  })

  const callback = provider.callback()
  server.on('request', callback)

  return {
    issuer,
    provider,
    stats,
    setTokenDelay(ms) {
      tokenDelay = ms
    },
    setTokenFault(fault) {
      tokenFault = fault
    },
    loseTokenResponses(n) {
      loseResponses = n
    },
    resetStats() {
      for (const key of ['requests', 'grants']) for (const k of Object.keys(stats[key])) delete stats[key][k]
      stats.grantErrors.length = 0
      stats.revokedGrants = 0
      stats.revocations = 0
    },
    close() {
      server.closeAllConnections?.()
      return new Promise((resolve) => server.close(() => resolve(undefined)))
    },
  }
}

/**
 * A Node request handler for the demo API's `GET /api/me`: it checks the bearer token with
 * the provider's userinfo endpoint and answers 401 with `WWW-Authenticate: Bearer error="invalid_token"`
 * when the provider does not accept it. Counts calls in `stats`.
 */
export function createApi(issuer) {
  const stats = { calls: 0, ok: 0, unauthorized: 0 }
  let userinfo
  async function handle(req, res) {
    stats.calls += 1
    userinfo ??= (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()).userinfo_endpoint
    const auth = req.headers.authorization ?? ''
    const check = /^Bearer [\w.~+/-]+=*$/.test(auth) ? await fetch(userinfo, { headers: { authorization: auth } }) : undefined
    res.setHeader('cache-control', 'no-store')
    if (!check?.ok) {
      stats.unauthorized += 1
      res.statusCode = 401
      res.setHeader('www-authenticate', auth ? 'Bearer error="invalid_token"' : 'Bearer')
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ error: 'invalid_token' }))
      return
    }
    stats.ok += 1
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ claims: await check.json(), time: new Date().toISOString() }))
  }
  return { handle, stats }
}

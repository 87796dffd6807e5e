// An embedded, real OpenID Provider (the `oidc-provider` package) for the demo, the
// end-to-end tests and the benchmark. Loopback only. It counts what the tests assert:
// requests per path and grants per grant type, read from the provider's own events.
/* global Headers, Request */
import { createHash, randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import * as oauth from 'oauth4webapi'
import Provider, { errors } from 'oidc-provider'

/**
 * @typedef {object} ProviderOptions
 * @property {number} [port] - 0 picks a free port
 * @property {string[]} appOrigins - origins of the SPA (redirect URIs: origin + '/callback', and origin + '/react.html' for the React page)
 * @property {number} [accessTokenTtl] - access token lifetime in seconds
 * @property {{ clientId: string, clientSecret: string }} [confidential] - also register a client that needs a secret
 * @property {{ keys: object[] }} [jwks] - signing keys, private JWKs; the first RS256 key signs ID tokens (default: oidc-provider's
 *   development keys). A key rotation: start again on the same port with the new key first.
 * @property {any} [adapter] - oidc-provider storage adapter (default: its in-memory one, which a restart empties)
 * @property {false | { requireNonce?: boolean }} [dpop] - DPoP (RFC 9449). oidc-provider turns it on by default
 *   (no nonces): `{ requireNonce: true }` makes the token and PAR endpoints demand a server nonce (`use_dpop_nonce`
 *   first); `false` turns DPoP off.
 * @property {{ require?: boolean, requireForClient?: boolean }} [par] - pushed authorization requests (RFC 9126, on
 *   by default): `require` for every client (discovery then says `require_pushed_authorization_requests`),
 *   `requireForClient` for `demo-spa` only (client metadata, not in discovery)
 * @property {string} [apiResource] - resource indicator of the demo API (e.g. the app origin + '/api'): every access
 *   token is then a JWT (RFC 9068) with this audience, DPoP-bound when the client used DPoP, checked by
 *   `createApi(issuer, { audience })`. The provider's UserInfo refuses such tokens, so the ID token carries
 *   the profile claims instead.
 */

/** RFC 7638 JWK thumbprint (the `jkt`) of a public EC, OKP or RSA JWK. */
export function jwkThumbprint(jwk) {
  const members = { EC: ['crv', 'kty', 'x', 'y'], OKP: ['crv', 'kty', 'x'], RSA: ['e', 'kty', 'n'] }[jwk.kty]
  if (!members) throw new TypeError(`unsupported JWK kty ${jwk.kty}`)
  return createHash('sha256').update(JSON.stringify(Object.fromEntries(members.map((k) => [k, jwk[k]])))).digest('base64url')
}

/** The protected header and payload of a compact JWS, decoded without any check (for counting, not trust). */
export function decodeJwt(jwt) {
  const [header, payload] = String(jwt).split('.')
  return { header: JSON.parse(Buffer.from(header, 'base64url').toString()), payload: JSON.parse(Buffer.from(payload ?? '', 'base64url').toString() || '{}') }
}

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
  const { appOrigins, accessTokenTtl = 30, confidential, dpop, par, apiResource } = options
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
  const clients = [{ ...spa, ...(par?.requireForClient ? { require_pushed_authorization_requests: true } : {}) }]
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
    // Access tokens for the API resource are refused at UserInfo: the ID token carries name and email then.
    ...(apiResource ? { conformIdTokenClaims: false } : {}),
    ttl: { AccessToken: accessTokenTtl, IdToken: 3600, RefreshToken: 14 * 86400, Grant: 14 * 86400, Session: 86400, Interaction: 3600, AuthorizationCode: 60, ClientCredentials: accessTokenTtl },
    features: {
      devInteractions: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
      clientCredentials: { enabled: Boolean(confidential) },
      dPoP:
        dpop === false
          ? { enabled: false }
          : { enabled: true, ...(dpop?.requireNonce ? { nonceSecret: randomBytes(32), requireNonce: () => true } : {}) },
      pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: Boolean(par?.require) },
      ...(apiResource
        ? {
            resourceIndicators: {
              enabled: true,
              // Every authorization and refresh is for the API (the SPA sends no `resource` parameter).
              defaultResource: () => apiResource,
              useGrantedResource: () => true,
              getResourceServerInfo(_ctx, indicator) {
                if (indicator !== apiResource) throw new errors.InvalidTarget()
                return { scope: 'profile email api', audience: apiResource, accessTokenFormat: 'jwt', accessTokenTTL: accessTokenTtl, jwt: { sign: { alg: 'RS256' } } }
              },
            },
          }
        : {}),
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
    /**
     * Every request that carried a `DPoP` proof, to the token or PAR endpoint (or any other): the key's
     * thumbprint, the proof's claims, and the provider's answer (`error` e.g. 'use_dpop_nonce').
     */
    dpopProofs: /** @type {{ path: string, jkt: string, htm?: string, htu?: string, nonce?: string, grantType?: string, status: number, error?: string }[]} */ ([]),
    /** Requests to the token and PAR endpoints without a `DPoP` proof (a downgrade or a client without DPoP). */
    withoutProof: /** @type {Record<string, number>} */ ({}),
    /** `dpop_jkt` of accepted authorization requests (sent, or taken from the PAR request's proof): what codes are bound to. */
    dpopJkt: /** @type {string[]} */ ([]),
    /** Access and refresh tokens issued, with the key they are bound to (`jkt`, undefined for Bearer). */
    issued: /** @type {{ kind: 'AccessToken' | 'RefreshToken', jkt?: string }[]} */ ([]),
  }
  /** Milliseconds by which to delay every token endpoint request (a slow network). */
  let tokenDelay = 0
  /** Called before a token request is handled; may answer it instead (fault injection). */
  let tokenFault = /** @type {((ctx: any) => Promise<boolean> | boolean) | undefined} */ (undefined)

  /** How many upcoming token responses to lose after the provider has processed the request. */
  let loseResponses = 0

  provider.use(async (ctx, next) => {
    stats.requests[ctx.path] = (stats.requests[ctx.path] ?? 0) + 1
    const proof = ctx.get('DPoP')
    if (ctx.method === 'POST' && !proof && ['/token', '/request'].includes(ctx.path)) stats.withoutProof[ctx.path] = (stats.withoutProof[ctx.path] ?? 0) + 1
    if (proof) {
      let record
      try {
        const { header, payload } = decodeJwt(proof)
        record = { path: ctx.path, jkt: jwkThumbprint(header.jwk), htm: payload.htm, htu: payload.htu, nonce: payload.nonce, status: 0 }
      } catch {
        record = { path: ctx.path, jkt: 'malformed', status: 0 }
      }
      stats.dpopProofs.push(record)
      try {
        await countedNext(ctx, next)
      } finally {
        record.status = ctx.status
        record.grantType = ctx.oidc?.params?.grant_type
        if (ctx.status >= 400 && ctx.body && typeof ctx.body === 'object') record.error = ctx.body.error
      }
      return
    }
    await countedNext(ctx, next)
  })
  // The key the authorization code is bound to: the front channel's dpop_jkt, or with PAR the proof's key.
  provider.on('authorization.accepted', (ctx) => {
    if (ctx.oidc.params.dpop_jkt) stats.dpopJkt.push(ctx.oidc.params.dpop_jkt)
  })
  for (const kind of ['AccessToken', 'RefreshToken']) {
    const event = kind === 'AccessToken' ? 'access_token' : 'refresh_token'
    // Opaque tokens are saved; JWT access tokens (apiResource) are issued without being stored.
    for (const what of ['saved', 'issued']) provider.on(`${event}.${what}`, (token) => stats.issued.push({ kind, jkt: token.jkt }))
  }

  async function countedNext(ctx, next) {
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
  }
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
      stats.dpopProofs.length = 0
      stats.dpopJkt.length = 0
      stats.issued.length = 0
      for (const k of Object.keys(stats.withoutProof)) delete stats.withoutProof[k]
    },
    close() {
      server.closeAllConnections?.()
      return new Promise((resolve) => server.close(() => resolve(undefined)))
    },
  }
}

/**
 * @typedef {object} ApiOptions
 * @property {string} [audience] - the API's resource indicator (the provider's `apiResource`): JWT access
 *   tokens (RFC 9068) for it are checked here with oauth4webapi's `validateJwtAccessToken`, which verifies
 *   the signature, `iss`, `aud`, `exp` and, for a DPoP-bound token (`cnf.jkt`), the `DPoP` proof: its
 *   signature, `htm`, `htu`, `ath`, `iat` and that its key is the token's. This API adds the proof's `jti`
 *   replay check and its nonce.
 * @property {boolean} [requireDPoP] - refuse Bearer tokens: only DPoP-bound ones are accepted
 * @property {boolean} [requireNonce] - DPoP proofs must carry this API's nonce (RFC 9449 §9): a proof
 *   without it, or with an old one, gets 401 `WWW-Authenticate: DPoP error="use_dpop_nonce"` and a
 *   `DPoP-Nonce` header
 */

/**
 * A Node request handler for the demo API's `GET /api/me`. Without `audience` it checks a bearer token
 * with the provider's userinfo endpoint. With `audience`, a JWT access token (a `DPoP` or a `Bearer` one) is
 * validated here (see {@link ApiOptions}); an opaque Bearer token still goes to userinfo. A refused
 * token gets 401 with `WWW-Authenticate: Bearer error="invalid_token"` (or `DPoP error=...` when the
 * request used DPoP or DPoP is required). Counts calls, nonce challenges and proofs in `stats`.
 * @param {string} issuer
 * @param {ApiOptions} [options]
 */
export function createApi(issuer, options = {}) {
  const stats = {
    calls: 0,
    ok: 0,
    unauthorized: 0,
    /** 401 `use_dpop_nonce` answers. */
    nonceChallenges: 0,
    /** Proofs whose `jti` was seen before (refused). */
    replays: 0,
    /** Every request that carried a `DPoP` proof: its key's thumbprint, its nonce, and the verdict. */
    proofs: /** @type {{ jkt: string, nonce?: string, status: number, error?: string }[]} */ ([]),
  }
  let nonce = randomBytes(16).toString('base64url')
  /** jti → when it may be forgotten (the proof's iat window is 300 s either way). */
  const seen = new Map()
  const jwks = {}
  let metadata
  let as
  const discover = async () => (metadata ??= (await fetch(`${issuer}/.well-known/openid-configuration`)).json())

  function refuse(res, scheme, error, description, extra = {}) {
    stats.unauthorized += 1
    if (error === 'use_dpop_nonce') stats.nonceChallenges += 1
    res.statusCode = 401
    const params = error ? ` error="${error}"${description ? `, error_description="${description.replace(/["\\]/g, '')}"` : ''}` : ''
    res.setHeader('www-authenticate', scheme === 'DPoP' ? `DPoP${params ? `${params},` : ''} algs="ES256"` : `Bearer${params}`)
    for (const [name, value] of Object.entries(extra)) res.setHeader(name, value)
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ error: error || 'invalid_token' }))
  }

  async function handle(req, res) {
    stats.calls += 1
    res.setHeader('cache-control', 'no-store')
    const auth = req.headers.authorization ?? ''
    const [scheme = '', token = ''] = auth.split(' ')
    const usesDPoP = /^dpop$/i.test(scheme) || req.headers.dpop !== undefined
    const challenge = usesDPoP || options.requireDPoP ? 'DPoP' : 'Bearer'
    const isJwt = /^[\w-]+\.[\w-]+\.[\w-]+$/.test(token)
    if (options.audience && (usesDPoP || isJwt || options.requireDPoP)) {
      metadata = await discover()
      as ??= { issuer: metadata.issuer, jwks_uri: metadata.jwks_uri }
      // vite mounts the handler under /api/me and strips it from req.url; originalUrl keeps it.
      const url = new URL(req.originalUrl ?? req.url, `http://${req.headers.host}`)
      const headers = new Headers()
      for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string') headers.set(name, value)
      let claims
      try {
        claims = await oauth.validateJwtAccessToken(as, new Request(url, { method: req.method, headers }), options.audience, {
          requireDPoP: options.requireDPoP,
          signingAlgorithms: ['RS256', 'ES256'],
          [oauth.allowInsecureRequests]: true, // the loopback provider is http
          [oauth.jwksCache]: jwks,
        })
      } catch (err) {
        const description = err instanceof Error ? err.message : String(err)
        if (usesDPoP) stats.proofs.push({ jkt: proofJkt(req.headers.dpop), status: 401, error: description })
        refuse(res, challenge, auth ? 'invalid_token' : '', description)
        return
      }
      if (claims.cnf?.jkt) {
        const { payload } = decodeJwt(req.headers.dpop)
        const record = { jkt: claims.cnf.jkt, nonce: payload.nonce, status: 401 }
        stats.proofs.push(record)
        const now = Math.floor(Date.now() / 1000)
        for (const [jti, until] of seen) if (until < now) seen.delete(jti)
        if (seen.has(payload.jti)) {
          stats.replays += 1
          record.error = 'replayed'
          refuse(res, 'DPoP', 'invalid_dpop_proof', 'DPoP proof replayed')
          return
        }
        seen.set(payload.jti, payload.iat + 300)
        if (options.requireNonce && payload.nonce !== nonce) {
          record.error = 'use_dpop_nonce'
          refuse(res, 'DPoP', 'use_dpop_nonce', 'Resource server requires nonce in DPoP proof', { 'dpop-nonce': nonce })
          return
        }
        record.status = 200
      }
      stats.ok += 1
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ claims: { sub: claims.sub, scope: claims.scope, jkt: claims.cnf?.jkt }, time: new Date().toISOString() }))
      return
    }
    const userinfo = (await discover()).userinfo_endpoint
    const check = /^Bearer [\w.~+/-]+=*$/.test(auth) ? await fetch(userinfo, { headers: { authorization: auth } }) : undefined
    if (!check?.ok) {
      refuse(res, challenge, auth ? 'invalid_token' : '', '')
      return
    }
    stats.ok += 1
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ claims: await check.json(), time: new Date().toISOString() }))
  }
  return {
    handle,
    stats,
    /** The nonce proofs must carry now (when `requireNonce`). */
    get nonce() {
      return nonce
    },
    /** Starts a new nonce: the next proof with the old one gets `use_dpop_nonce`. */
    rotateNonce() {
      nonce = randomBytes(16).toString('base64url')
    },
  }
}

function proofJkt(proof) {
  try {
    return jwkThumbprint(decodeJwt(proof).header.jwk)
  } catch {
    return 'malformed'
  }
}

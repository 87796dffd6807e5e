import * as oauth from 'oauth4webapi'
import type { Config } from './config.js'
import { AuthError } from './errors.js'
import { toAuthError } from './provider-errors.js'
import { validatedClaims } from './id-token.js'
import { followIssuerSpelling, peekIdTokenIssuer, REQUEST_TIMEOUT, type Provider } from './metadata.js'
import { createPendingLogins } from './pending.js'
import type { Store } from './store.js'
import { safeReturnTo as sameOriginPath, storedReturnTo } from './return-to.js'
import { SCHEMA, toTokenSet, type TokenSet } from './tokens.js'

/** A pending login lives this long: a callback arriving later is refused. */
export const PENDING_TTL = 10 * 60_000

/**
 * Options of {@link Auth.login}.
 * @example
 * ```ts
 * import type { LoginOptions } from 'oauth-tabs'
 *
 * const options: LoginOptions = { returnTo: '/inbox', params: { login_hint: 'ada@example.com' }, appState: { draft: 'Hi' } }
 * await auth.login(options)
 * ```
 */
export interface LoginOptions {
  /** Same-origin path to return to after login (default: the current page). Other origins are refused. */
  returnTo?: string
  /**
   * Extra authorization request parameters for this login only, e.g. `{ login_hint: 'ada' }`.
   * They replace `authorizationParams` and the default `prompt=consent` (sent with `offline_access`);
   * an empty string drops a parameter (`{ prompt: '' }`). The protocol's own parameters
   * (`client_id`, `redirect_uri`, `response_type`, `scope`, `state`, `nonce`, `code_challenge*`)
   * cannot be replaced.
   */
  params?: Readonly<Record<string, string>>
  /**
   * Any value to get back from {@link Auth.handleRedirect} after the login (the page's state: a draft,
   * a tab, a scroll position). Kept with the pending login in IndexedDB; in `storage: 'memory'`
   * mode it goes through JSON in `sessionStorage`. Keep it small.
   */
  appState?: unknown
  /**
   * Log in in a popup window instead of leaving the page: `login` resolves with the new state once
   * signed in (every tab hears it), and the popup closes itself. Call it from a click handler, or the
   * browser blocks the popup (`popup_blocked`); a popup the user closes rejects with `popup_closed`.
   * Needs IndexedDB (the popup finishes the login as another tab of the origin).
   */
  popup?: boolean
}

/**
 * What {@link Auth.handleRedirect} resolves to after a successful login.
 * @example
 * ```ts
 * import type { RedirectResult } from 'oauth-tabs'
 *
 * const result: RedirectResult | null = await auth.handleRedirect()
 * if (result) location.assign(result.returnTo) // a path of this origin: no open redirect
 * ```
 */
export interface RedirectResult {
  /**
   * The same-origin path the login was started from (or the `returnTo` given to `login`):
   * always a path of this origin, safe to pass to `history.replaceState` or `location.assign`.
   */
  returnTo: string
  /** The `appState` given to {@link Auth.login}, if any. */
  appState?: unknown
}

interface Pending {
  v: typeof SCHEMA
  appState?: unknown
  /** Started by `login({ popup: true })`: the callback page reports back to the opener. */
  popup?: true
  /** Issuer, client and redirect URI the attempt belongs to (RFC 9700 §4.4.2: bind check values to them). */
  binding: string
  state: string
  verifier: string
  nonce?: string
  returnTo: string
  createdAt: number
  /** The DPoP key the request named (`dpop_jkt`, RFC 9449 §10): the code exchange must use that key. */
  jkt?: string
}

/** Parameters an app may not add: they would let something else stand in for the request oauth-tabs builds. */
const RESERVED = ['request', 'request_uri', 'response_mode']

/** Starts a login: builds the authorization request and records the attempt. Returns the URL to go to and the attempt's `state`. */
export async function startLogin(config: Config, store: Store, provider: Provider, options: LoginOptions = {}): Promise<{ url: URL; state: string }> {
  const { as } = provider
  const returnTo = sameOriginPath(options.returnTo)
  // RFC 7636 §4.2 / RFC 9700 §2.1.1: S256 only, never a downgrade to "plain".
  if (as.code_challenge_methods_supported && !as.code_challenge_methods_supported.includes('S256')) {
    throw new AuthError('config', 'Provider lacks PKCE S256 (plain is never used)')
  }
  if (options.appState !== undefined) {
    try {
      structuredClone(options.appState)
    } catch {
      throw new AuthError('config', 'appState must be a structured-cloneable value (no functions, DOM nodes or class instances with private state)')
    }
  }
  const verifier = oauth.generateRandomCodeVerifier()
  const state = oauth.generateRandomState()
  const nonce = config.openid ? oauth.generateRandomNonce() : undefined
  if (!as.authorization_endpoint) throw new AuthError('config', 'No authorization_endpoint')
  for (const name of Object.keys({ ...config.authorizationParams, ...options.params })) {
    // A request object or another response mode could carry its own redirect_uri, state or PKCE values.
    if (RESERVED.includes(name)) throw new AuthError('config', `Authorization parameter ${name} is not supported (it could override the request's own values)`)
  }
  const url = new URL(as.authorization_endpoint)
  // RFC 9449 §10: the code is bound to the DPoP key. Only a stored key outlives the redirect (not memory mode).
  const key = config.dpop && store.persistent ? await provider.dpop!.forLogin() : undefined
  const params = {
    // OIDC Core §11: offline_access needs prompt=consent (some providers drop the scope otherwise).
    ...(config.scope.split(' ').includes('offline_access') ? { prompt: 'consent' } : {}),
    ...config.authorizationParams,
    ...options.params,
    client_id: config.clientId,
    redirect_uri: config.redirectUri,
    response_type: 'code',
    scope: config.scope,
    state,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...(nonce ? { nonce } : {}),
    ...(key ? { dpop_jkt: key.jkt } : {}),
  }
  for (const [name, value] of Object.entries(params)) {
    // An empty value drops the parameter (`prompt: ''` turns off the default prompt=consent).
    if (value) url.searchParams.set(name, value)
  }
  // RFC 9126: pushed to the provider first when asked for, or when the provider requires it.
  if (config.tokenProxy && as.require_pushed_authorization_requests) {
    throw new AuthError('config', 'The provider requires pushed authorization requests, which cannot go through tokenProxy (the push would need the client secret)')
  }
  const target = config.pushedAuthorization || as.require_pushed_authorization_requests ? await (await import('./par.js')).pushAuthorizationRequest(provider, url.searchParams, key?.handle) : url
  const pending: Pending = {
    v: SCHEMA,
    binding: binding(config),
    state,
    verifier,
    nonce,
    returnTo,
    createdAt: Date.now(),
    ...(key ? { jkt: key.jkt } : {}),
    ...(options.appState === undefined ? {} : { appState: options.appState }),
    ...(options.popup ? { popup: true as const } : {}),
  }
  // Keyed by state: logins started in two tabs do not overwrite each other.
  await createPendingLogins(config.name, store).put(state, pending)
  return { url: target, state }
}

const binding = (config: Config) => `${config.issuer.href} ${config.clientId} ${config.redirectUri}`

/**
 * Completes a login from the callback URL: takes the pending attempt (once), validates
 * the response (state, iss, error), exchanges the code with the PKCE verifier and
 * validates the ID token (nonce included). Returns the token set to store (generation 1;
 * the store write numbers it); stores nothing.
 */
export async function finishLogin(
  config: Config,
  store: Store,
  loadProvider: () => Promise<Provider>,
  href: string,
): Promise<{ tokens: TokenSet; result: RedirectResult; popup: boolean }> {
  // Callbacks are short; a huge one is an attack or a broken link, not a login.
  if (href.length > 16_384) throw new AuthError('state_mismatch', 'Callback URL too long; log in again')
  const params = new URL(href).searchParams
  const states = params.getAll('state')
  if (states.length !== 1 || !states[0] || states[0].length > 512) {
    throw new AuthError('state_mismatch', 'Callback without one valid state; log in again')
  }
  // Taken, not read: a replayed callback finds nothing (RFC 9700 §4.2.4, state is one-time).
  const pending = (await createPendingLogins(config.name, store).take(states[0])) as Pending | undefined
  if (pending?.v !== SCHEMA) {
    throw new AuthError(
      'state_mismatch',
      'No login was started here for this callback: most often it was already used (reload, back button) or the login began in another browser, profile or host name (localhost vs 127.0.0.1), or site data was cleared; a forged callback looks the same. Log in again',
    )
  }
  if (Date.now() - pending.createdAt > PENDING_TTL || Date.now() < pending.createdAt) {
    throw new AuthError('state_mismatch', 'Login older than 10 minutes; log in again')
  }
  if (pending.binding !== binding(config)) {
    throw new AuthError('state_mismatch', 'Callback for another provider, client or redirect URI')
  }
  const provider = await loadProvider()
  const { client } = provider
  // The key the request named; in memory mode none was named and the tab's key is made now.
  const key = config.dpop ? await provider.dpop!.forLogin() : undefined
  if (pending.jkt && key?.jkt !== pending.jkt) {
    throw new AuthError('login_required', 'The DPoP key of this login is gone: a logout in another tab deleted it, or this page created the client without dpop: true (use the same options on every page); log in again')
  }
  let response: oauth.TokenEndpointResponse
  let raw: Response
  try {
    followIssuerSpelling(provider, params.get('iss'))
    // state, iss (RFC 9207, required when the provider advertises it), error=, duplicates.
    const callback = oauth.validateAuthResponse(provider.as, client, params, pending.state)
    const exchange = async () => {
      raw = await oauth.authorizationCodeGrantRequest(provider.as, client, provider.clientAuth, callback, config.redirectUri, pending.verifier, {
        ...provider.options,
        DPoP: key?.handle,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT),
      })
      followIssuerSpelling(provider, await peekIdTokenIssuer(raw))
      return oauth.processAuthorizationCodeResponse(provider.as, client, raw, { expectedNonce: pending.nonce ?? oauth.expectNoNonce, requireIdToken: config.openid })
    }
    // RFC 9449 §8: a use_dpop_nonce answer (the code is not spent) costs one retry, with the nonce it carried.
    response = await exchange().catch((err: unknown) => (oauth.isDPoPNonceError(err) ? exchange() : Promise.reject(err)))
  } catch (err) {
    throw toAuthError(err, 'Login')
  }
  const claims = await validatedClaims(provider, response, raw!)
  const result: RedirectResult = { returnTo: storedReturnTo(pending.returnTo), ...('appState' in pending ? { appState: pending.appState } : {}) }
  return { tokens: toTokenSet(response, claims, Date.now(), config.refreshSkew, undefined, key?.jkt), result, popup: pending.popup === true }
}

import * as oauth from 'oauth4webapi'
import type { Config } from './config.js'
import { AuthError, toAuthError } from './errors.js'
import { REQUEST_TIMEOUT, validatedClaims, type Provider } from './metadata.js'
import { safeReturnTo as sameOriginPath } from './return-to.js'
import type { Store } from './store.js'
import { SCHEMA, toTokenSet, type TokenSet } from './tokens.js'

/** A pending login lives this long: a callback arriving later is refused. */
export const PENDING_TTL = 10 * 60_000

/** Options of {@link Auth.login}. */
export interface LoginOptions {
  /** Same-origin path to return to after login (default: the current page). Other origins are refused. */
  returnTo?: string
  /** Extra authorization request parameters for this login only, e.g. `{ login_hint: 'ada' }`. */
  params?: Readonly<Record<string, string>>
}

/** What {@link Auth.handleRedirect} resolves to after a successful login. */
export interface RedirectResult {
  /** The same-origin path the login was started from (or the `returnTo` given to `login`). */
  returnTo: string
}

interface Pending {
  v: typeof SCHEMA
  /** Issuer, client and redirect URI the attempt belongs to (RFC 9700 §4.4.2: bind check values to them). */
  binding: string
  state: string
  verifier: string
  nonce?: string
  returnTo: string
  createdAt: number
}

/** Parameters the callback URL loses once handled (RFC 9700 §4.2.4: no code in history). */
const CALLBACK_PARAMS = ['code', 'state', 'iss', 'error', 'error_description', 'error_uri', 'session_state']

/** Starts a login: builds the authorization request and records the attempt. Returns the URL to go to. */
export async function startLogin(config: Config, store: Store, provider: Provider, options: LoginOptions = {}): Promise<URL> {
  const { as } = provider
  const returnTo = sameOriginPath(options.returnTo)
  // RFC 7636 §4.2 / RFC 9700 §2.1.1: S256 only, never a downgrade to "plain".
  if (as.code_challenge_methods_supported && !as.code_challenge_methods_supported.includes('S256')) {
    throw new AuthError('config', 'Provider lacks PKCE S256 (plain is never used)')
  }
  const verifier = oauth.generateRandomCodeVerifier()
  const state = oauth.generateRandomState()
  const nonce = config.openid ? oauth.generateRandomNonce() : undefined
  if (!as.authorization_endpoint) throw new AuthError('config', 'No authorization_endpoint')
  const url = new URL(as.authorization_endpoint)
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
  }
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value)
  const pending: Pending = {
    v: SCHEMA,
    binding: binding(config),
    state,
    verifier,
    nonce,
    returnTo,
    createdAt: Date.now(),
  }
  // Keyed by state: logins started in two tabs do not overwrite each other.
  await store.update(`pending:${state}`, () => pending)
  return url
}

const binding = (config: Config) => `${config.issuer.href} ${config.clientId} ${config.redirectUri}`

/** True when `href` is the configured redirect URI (query and fragment aside). */
export function isRedirectUri(config: Config, href: string): boolean {
  const url = new URL(href)
  const expected = new URL(config.redirectUri)
  return url.origin === expected.origin && url.pathname === expected.pathname
}

/** The callback URL without the OAuth parameters, for `history.replaceState`. */
export function withoutCallbackParams(href: string): string {
  const url = new URL(href)
  for (const name of CALLBACK_PARAMS) url.searchParams.delete(name)
  return url.href
}

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
): Promise<{ tokens: TokenSet; returnTo: string }> {
  // Callbacks are short; a huge one is an attack or a broken link, not a login.
  if (href.length > 16_384) throw new AuthError('state_mismatch', 'Callback URL too long; log in again')
  const params = new URL(href).searchParams
  const states = params.getAll('state')
  if (states.length !== 1 || !states[0] || states[0].length > 512) {
    throw new AuthError('state_mismatch', 'Callback without one valid state; log in again')
  }
  // Taken, not read: a replayed callback finds nothing (RFC 9700 §4.2.4, state is one-time).
  const pending = (await store.take(`pending:${states[0]}`)) as Pending | undefined
  if (pending?.v !== SCHEMA) {
    throw new AuthError('state_mismatch', 'No pending login for this state (replayed, forged or another browser); log in again')
  }
  if (Date.now() - pending.createdAt > PENDING_TTL || Date.now() < pending.createdAt) {
    throw new AuthError('state_mismatch', 'Login older than 10 minutes; log in again')
  }
  if (pending.binding !== binding(config)) {
    throw new AuthError('state_mismatch', 'Callback for another provider, client or redirect URI')
  }
  const provider = await loadProvider()
  const { as, client } = provider
  let response: oauth.TokenEndpointResponse
  let raw: Response
  try {
    // state, iss (RFC 9207, required when the provider advertises it), error=, duplicates.
    const callback = oauth.validateAuthResponse(as, client, params, pending.state)
    raw = await oauth.authorizationCodeGrantRequest(as, client, provider.clientAuth, callback, config.redirectUri, pending.verifier, {
      ...provider.options,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT),
    })
    response = await oauth.processAuthorizationCodeResponse(as, client, raw, { expectedNonce: pending.nonce ?? oauth.expectNoNonce, requireIdToken: config.openid })
  } catch (err) {
    throw toAuthError(err, 'Login')
  }
  const claims = await validatedClaims(provider, response, raw)
  return { tokens: toTokenSet(response, claims, Date.now(), config.refreshSkew), returnTo: pending.returnTo }
}

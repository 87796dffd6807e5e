import * as oauth from 'oauth4webapi'
import { resolveConfig, type AuthOptions } from './config.js'
import { AuthError, toAuthError } from './errors.js'
import { createAuthFetch } from './fetch.js'
import { finishLogin, isRedirectUri, startLogin, withoutCallbackParams, type LoginOptions, type RedirectResult } from './login.js'
import { createProviderLoader } from './metadata.js'
import { createRefresher, readTokens } from './refresh.js'
import { createKeyValueStore } from './store.js'
import { createTabs, type TabMessage } from './tabs.js'
import { isFresh, isTokenSet, isUsable, type TokenSet, type User } from './tokens.js'

/** Where the session stands. `loading` until this tab has read the store. */
export interface AuthState {
  readonly status: 'loading' | 'authenticated' | 'unauthenticated'
  /** The user's ID token claims (`sub`, `name`, ...), when signed in with `openid`. */
  readonly user?: User
  /** When the current access token expires (epoch ms, this browser's clock). */
  readonly expiresAt?: number
}

/**
 * What happened, passed to {@link Auth.subscribe} listeners with the new state.
 * `login`, `refresh` and `logout` fire in every tab of the origin; `ready` once per
 * tab when the stored session has been read; `warning` for a degraded but working
 * setup (no IndexedDB); `error` for a failed background refresh.
 */
export interface AuthEvent {
  readonly type: 'ready' | 'login' | 'refresh' | 'logout' | 'warning' | 'error'
  readonly message?: string
  readonly error?: AuthError
}

/** A subscriber; see {@link Auth.subscribe}. */
export type AuthListener = (state: AuthState, event: AuthEvent) => void

/** Options of {@link Auth.logout}. */
export interface LogoutOptions {
  /**
   * End the session at the provider too (RP-initiated logout) by navigating to its
   * `end_session_endpoint`. Default: true when `postLogoutRedirectUri` is configured.
   */
  endSession?: boolean
}

/** The client returned by {@link createAuth}: plain functions, safe to destructure. */
export interface Auth {
  /**
   * Starts a login: authorization code with PKCE (S256), a fresh `state`, and a `nonce`
   * when `openid` is in scope. Navigates away; resolves only if navigation is blocked.
   * @throws {@link AuthError} `config` for a `returnTo` on another origin or a provider without S256; `network` when discovery fails.
   */
  login(options?: LoginOptions): Promise<void>
  /**
   * Completes a login on the redirect URI; resolves to `null` on any other URL.
   * Removes `code`, `state` and `iss` from the address bar whatever the outcome.
   * @throws {@link AuthError} `state_mismatch`, `access_denied`, `authorization_error`, `invalid_grant`,
   * `invalid_response`, `network`, `server_error`; stored tokens are untouched on failure.
   */
  handleRedirect(url?: string): Promise<RedirectResult | null>
  /**
   * Resolves to a valid access token, refreshing first when it is due (one request
   * across all tabs). A fresh token comes from memory: no IndexedDB, no network.
   * @throws {@link AuthError} `login_required` when there is no session or the provider ended it;
   * `network`, `server_error`, `rate_limited` when a due refresh failed and the token has expired.
   * @example
   * ```ts
   * const token = await auth.getAccessToken()
   * const fresh = await auth.getAccessToken({ forceRefresh: true }) // e.g. after a role change
   * ```
   */
  getAccessToken(options?: { forceRefresh?: boolean }): Promise<string>
  /**
   * `fetch` with `Authorization: Bearer <token>` for the allowed `apiOrigins`; other
   * requests pass through untouched. On a 401 it refreshes once and retries once.
   * @throws {@link AuthError} as {@link Auth.getAccessToken}, for allowed origins only.
   */
  fetch: typeof fetch
  /**
   * Logs out in every tab: revokes the refresh token (RFC 7009) where the provider
   * supports it, clears the store, notifies subscribers, then ends the provider
   * session when configured.
   */
  logout(options?: LogoutOptions): Promise<void>
  /** The current state (synchronous). */
  getState(): AuthState
  /** Calls `listener` on every change, in every tab; returns the function that unsubscribes. */
  subscribe(listener: AuthListener): () => void
  /** Releases the channel, timers and listeners. The client must not be used afterwards. */
  close(): void
}

/** The longest a timer may be set for (setTimeout's limit). */
const MAX_TIMER = 2 ** 31 - 1
/** The shortest: a provider issuing near-zero lifetimes must not cause a refresh loop. */
const MIN_TIMER = 5000

/**
 * Creates a client. Options are checked now: a mistake is an `AuthError` with code
 * `config` naming the option. Nothing touches the network until it is needed; the
 * stored session is read at once.
 *
 * @throws {@link AuthError} `config`
 * @example
 * ```ts
 * import { createAuth } from 'oauth-tabs'
 *
 * const auth = createAuth({
 *   issuer: 'https://id.example.com',
 *   clientId: 'my-spa',
 *   redirectUri: `${location.origin}/callback`,
 *   scope: 'openid profile offline_access',
 *   apiOrigins: ['https://api.example.com'],
 * })
 * const result = await auth.handleRedirect() // on /callback; null elsewhere
 * if (result) history.replaceState(null, '', result.returnTo)
 * if (auth.getState().status !== 'authenticated') await auth.login()
 * const me = await auth.fetch('https://api.example.com/me')
 * ```
 */
export function createAuth(options: AuthOptions): Auth {
  const config = resolveConfig(options)
  const listeners = new Set<AuthListener>()
  let current: TokenSet | undefined
  let status: AuthState['status'] = 'loading'
  let timer: ReturnType<typeof setTimeout> | undefined
  let closed = false

  const state = (): AuthState =>
    Object.freeze(current ? { status, user: current.user, expiresAt: current.expiresAt } : { status })
  const emit = (event: AuthEvent) => {
    for (const listener of [...listeners]) {
      try {
        listener(state(), event)
      } catch (err) {
        // One throwing listener must not starve the others; the error is still reported.
        queueMicrotask(() => {
          throw err
        })
      }
    }
  }
  // Deferred: a warning raised while createAuth runs still reaches listeners subscribed right after.
  const warn = (message: string) => queueMicrotask(() => emit({ type: 'warning', message }))

  const store = createKeyValueStore(config.name, config.storage, warn)
  const provider = createProviderLoader(config, store)

  /** Makes `next` this tab's token set; `type` says why (`login` and `logout` always notify). */
  function adopt(next: TokenSet | undefined, type: 'ready' | 'login' | 'refresh' | 'logout') {
    if (closed) return
    const changed = next?.gen !== current?.gen || next?.accessToken !== current?.accessToken || status === 'loading'
    current = next
    status = next ? 'authenticated' : 'unauthenticated'
    clearTimeout(timer)
    // The timer is one trigger among three (visibility, on demand): background tabs throttle timers.
    if (next?.refreshToken) timer = setTimeout(background, Math.min(Math.max(next.refreshAt - Date.now(), MIN_TIMER), MAX_TIMER))
    if (changed || type === 'login') emit({ type })
  }

  function onMessage(message: TabMessage) {
    if (message.type === 'logout') {
      if (current && current.gen <= message.gen) adopt(undefined, 'logout')
    } else if (isTokenSet(message.tokens) && (!current || message.tokens.gen > current.gen)) {
      adopt(message.tokens, message.login ? 'login' : 'refresh')
    }
  }

  const tabs = createTabs(config.name, config.lockTimeout, onMessage)
  const refresh = createRefresher({ store, tabs, provider, skew: config.refreshSkew, current: () => current, adopt, warn })

  // The store never rejects (it falls back to memory), so neither does `loaded`.
  const loaded = readTokens(store, warn).then((tokens) => adopt(current && (!tokens || current.gen >= tokens.gen) ? current : tokens, 'ready'))

  async function getAccessToken(refused?: string): Promise<string> {
    await loaded
    const now = Date.now()
    if (current && current.accessToken !== refused && isUsable(current, now)) {
      // Due but still valid: refresh in the background and keep using this token meanwhile,
      // so a slow or retrying token endpoint never holds up API calls.
      if (!isFresh(current, now)) background()
      return current.accessToken
    }
    return (await refresh(refused)).accessToken
  }

  function background() {
    if (closed || !current || isFresh(current, Date.now())) return
    refresh().catch((err: unknown) => {
      const error = toAuthError(err)
      if (error.code !== 'login_required') emit({ type: 'error', error, message: error.message })
    })
  }
  const onVisible = () => {
    if (document.visibilityState === 'visible') background()
  }
  globalThis.document?.addEventListener('visibilitychange', onVisible)
  addEventListener('online', background)

  return Object.freeze({
    async login(loginOptions?: LoginOptions) {
      const url = await startLogin(config, store, await provider(), loginOptions)
      location.assign(url.href)
    },

    async handleRedirect(href = location.href) {
      if (!isRedirectUri(config, href)) return null
      const params = new URL(href).searchParams
      if (!params.has('code') && !params.has('error') && !params.has('state')) return null
      if (href === location.href) history.replaceState(history.state, '', withoutCallbackParams(href))
      await loaded
      const { tokens, returnTo } = await finishLogin(config, store, provider, href)
      const written = (await store.update('tokens', (s) => ({ ...tokens, gen: (isTokenSet(s) ? s.gen : 0) + 1 }))) as TokenSet
      tabs.announce({ type: 'tokens', tokens: written, login: true })
      adopt(written, 'login')
      return { returnTo }
    },

    getAccessToken: (options?: { forceRefresh?: boolean }) =>
      getAccessToken(options?.forceRefresh ? current?.accessToken : undefined),

    fetch: createAuthFetch(config.apiOrigins, getAccessToken, config.fetch),

    async logout(logoutOptions: LogoutOptions = {}) {
      await loaded
      const ended = await tabs
        .withLock(async () => {
          const stored = await readTokens(store, warn)
          if (stored?.refreshToken) {
            try {
              const p = await provider()
              if (p.as.revocation_endpoint) {
                await oauth.processRevocationResponse(
                  await oauth.revocationRequest(p.as, p.client, p.clientAuth, stored.refreshToken, {
                    ...p.options,
                    additionalParameters: { token_type_hint: 'refresh_token' },
                    signal: AbortSignal.timeout(5000),
                  }),
                )
              }
            } catch (err) {
              warn(`Revocation failed: ${toAuthError(err, 'Revocation').message}`)
            }
          }
          await store.update('tokens', () => undefined)
          return stored
        })
        .catch((err: unknown) => {
          // Logging out must not fail because another tab is stuck: clear what this tab can.
          if (!(err instanceof AuthError && err.code === 'lock_timeout')) throw err
          return store.take('tokens') as Promise<TokenSet | undefined>
        })
      const last = ended ?? current
      tabs.announce({ type: 'logout', gen: Math.max(last?.gen ?? 0, current?.gen ?? 0) })
      adopt(undefined, 'logout')
      if (logoutOptions.endSession ?? config.postLogoutRedirectUri !== undefined) {
        // Logged out here already; an unreachable provider only means no provider-side logout.
        const as = (await provider().catch(() => undefined))?.as
        if (as?.end_session_endpoint && config.postLogoutRedirectUri) {
          const url = new URL(as.end_session_endpoint)
          url.searchParams.set('client_id', config.clientId)
          url.searchParams.set('post_logout_redirect_uri', config.postLogoutRedirectUri)
          if (last?.idToken) url.searchParams.set('id_token_hint', last.idToken)
          location.assign(url.href)
        }
      }
    },

    getState: state,

    subscribe(listener: AuthListener) {
      listeners.add(listener)
      return () => void listeners.delete(listener)
    },

    close() {
      closed = true
      clearTimeout(timer)
      listeners.clear()
      tabs.close()
      globalThis.document?.removeEventListener('visibilitychange', onVisible)
      removeEventListener('online', background)
    },
  })
}


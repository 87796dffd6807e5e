import { resolveConfig, type AuthOptions } from './config.js'
import { asAuthError, AuthError } from './errors.js'
import { createAuthFetch } from './fetch.js'
import { createInertAuth } from './inert.js'
import { isRedirectUri, withoutCallbackParams } from './callback-url.js'
import type { DPoPKeys } from './dpop.js'
import type { LoginOptions, RedirectResult } from './login.js'
import type { Provider } from './metadata.js'
import type { PopupOutcome } from './popup.js'
import { openPopup } from './popup-window.js'
import { createSessionState, type AuthListener, type AuthState } from './state.js'
import { createKeyValueStore } from './store.js'
import { createTabs, type TabMessage } from './tabs.js'
import { readTokens } from './token-store.js'
import { createSessionTimer, isOver } from './timer.js'
import { isFresh, isTokenSet, isUsable, type TokenSet } from './tokens.js'

export type { AuthEvent, AuthListener, AuthState } from './state.js'

/**
 * Options of {@link Auth.logout}.
 * @example
 * ```ts
 * import type { LogoutOptions } from 'oauth-tabs'
 *
 * const options: LogoutOptions = { endSession: false }
 * await auth.logout(options)
 * ```
 */
export interface LogoutOptions {
  /**
   * End the session at the provider too (RP-initiated logout) by navigating to its
   * `end_session_endpoint`. Default: true when `postLogoutRedirectUri` is configured.
   */
  endSession?: boolean
}

/**
 * The client returned by {@link createAuth}: plain functions, safe to destructure.
 * @example
 * ```ts
 * const { getAccessToken, subscribe } = auth
 * subscribe(render)
 * const token = await getAccessToken()
 * ```
 */
export interface Auth {
  /**
   * Starts a login: authorization code with PKCE (S256), a fresh `state`, and a `nonce` when
   * `openid` is in scope. By default it navigates this page to the provider, and the promise never
   * settles (the page unloads; code after `await auth.login()` does not run). With `{ popup: true }`
   * the page stays, and the promise resolves with the signed-in state.
   * @throws {@link AuthError} `config` for a bad `returnTo` or `appState`, or a provider without S256;
   * `network`, `server_error` when discovery fails; `popup_blocked`, `popup_closed` and the login's own errors for a popup.
   * @example
   * ```ts
   * await auth.login({ returnTo: '/inbox' })                  // redirect: never settles
   * button.onclick = () => auth.login({ popup: true }).then(render) // popup: resolves signed in
   * ```
   */
  login(options?: LoginOptions): Promise<AuthState>
  /**
   * Completes a login on the redirect URI; resolves to `null` on any other URL.
   * Removes `code`, `state` and `iss` from the address bar whatever the outcome. In the popup of
   * `login({ popup: true })` it never settles after a success: the popup is closing.
   * @throws {@link AuthError} `state_mismatch`, `access_denied`, `authorization_error`, `invalid_grant`,
   * `invalid_response`, `network`, `server_error`; stored tokens are untouched on failure.
   * @example
   * ```ts
   * const result = await auth.handleRedirect()
   * if (result) history.replaceState(null, '', result.returnTo) // always a path of this origin
   * ```
   */
  handleRedirect(url?: string): Promise<RedirectResult | null>
  /**
   * Resolves to a valid access token, refreshing first when it is due (one request
   * across all tabs). A fresh token comes from memory: no IndexedDB, no network.
   * @throws {@link AuthError} `login_required` when there is no session, it expired, or the provider ended it;
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
   * @example
   * ```ts
   * const response = await auth.fetch('https://api.example.com/me')
   * const me = await response.json()
   * ```
   */
  fetch: typeof fetch
  /**
   * Logs out in every tab: revokes the refresh token (RFC 7009) where the provider
   * supports it (a `warning` event says when it could not), clears the store, notifies
   * subscribers, then ends the provider session when configured.
   * @example
   * ```ts
   * await auth.logout()                       // every tab; then the provider, with postLogoutRedirectUri
   * await auth.logout({ endSession: false })  // this app only; the provider session stays
   * ```
   */
  logout(options?: LogoutOptions): Promise<void>
  /**
   * Resolves once this tab has read the stored session, with the state then (`authenticated` or
   * `unauthenticated`, never `loading`). Never rejects. Use it to decide whether to log in.
   * @example
   * ```ts
   * const { status } = await auth.ready()
   * if (status === 'unauthenticated') await auth.login()
   * ```
   */
  ready(): Promise<AuthState>
  /**
   * The current state (synchronous): the same frozen object until it changes.
   * @example
   * ```ts
   * const { status, user } = auth.getState()
   * if (status === 'authenticated') greet(String(user?.name ?? user?.sub))
   * ```
   */
  getState(): AuthState
  /**
   * Calls `listener` on every change, in every tab; returns the function that unsubscribes.
   * @example
   * ```ts
   * const unsubscribe = auth.subscribe((state, event) => {
   *   if (event.type === 'expired') showBanner('Session ended')
   *   render(state)
   * })
   * ```
   */
  subscribe(listener: AuthListener): () => void
  /**
   * Releases the channel, timers and listeners. The client must not be used afterwards.
   * @example
   * ```ts
   * auth.close() // e.g. in a test's afterEach, or when a micro-frontend unmounts
   * ```
   */
  close(): void
}

/** Loads something once, when first needed; a failed load (offline on first use) is tried again next time. */
function lazy<T>(load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined
  return () =>
    (loading ??= load().catch((err: unknown) => {
      loading = undefined
      throw asAuthError(err, 'Loading oauth-tabs')
    }))
}

/**
 * Creates a client. Options are checked now: a mistake is an `AuthError` with code
 * `config` naming the option. Nothing touches the network until it is needed; the
 * stored session is read at once. Outside a browser (server-side rendering) it returns
 * an inert client whose state stays `loading`.
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
 * const { status } = await auth.ready()
 * if (status === 'unauthenticated') await auth.login()
 * const me = await auth.fetch('https://api.example.com/me')
 * ```
 */
export function createAuth(options: AuthOptions): Auth {
  if (typeof window === 'undefined' || typeof location === 'undefined') return createInertAuth()
  const config = resolveConfig(options)
  const session = createSessionState()
  const popupWaiters = new Set<(outcome: PopupOutcome) => void>()
  const reported = new WeakSet<AuthError>()
  let closed = false

  // Deferred: a warning raised while createAuth runs still reaches listeners subscribed right after.
  const warn = (message: string) => queueMicrotask(() => session.emit({ type: 'warning', message }))
  const report = (error: AuthError) => {
    reported.add(error)
    session.emit({ type: 'error', error, message: error.message })
  }
  const store = createKeyValueStore(config.name, config.storage, warn)
  // The protocol (discovery, refresh, ID token checks, oauth4webapi) is loaded on first use: a page
  // whose stored token is fresh serves API calls without it.
  const loadProvider = lazy(() => import('./metadata.js').then((m) => m.createProviderLoader(config, store, dpop)))
  // DPoP (`dpop: true`) is loaded on first use, and never by an app without it.
  let keys: DPoPKeys | undefined
  const dpop = config.dpop ? lazy(() => import('./dpop.js').then((m) => (keys = m.createDPoP(config.name, store, warn)))) : undefined
  /** Deletes the DPoP key that the ended session's tokens were bound to. */
  const dropKey = (jkt?: string) => (dpop && jkt ? dpop().then((d) => d.drop(jkt)).catch(() => {}) : undefined)
  const provider = async (): Promise<Provider> => (await loadProvider())()
  const timer = createSessionTimer(background, expire)

  /** Makes `next` this tab's token set; `type` says why (`login` always notifies). */
  function adopt(next: TokenSet | undefined, type: 'ready' | 'login' | 'refresh' | 'logout' | 'expired', fromOtherTab = false) {
    if (closed) return
    const before = session.tokens
    const loading = session.get().status === 'loading'
    session.set(next)
    timer.schedule(next)
    if (loading || type === 'login' || next?.gen !== before?.gen || next?.accessToken !== before?.accessToken) {
      session.emit(type === 'ready' ? { type } : { type, fromOtherTab })
    }
  }

  /** Ends the session in this tab and tells the others (their sets of generation `gen` or older). */
  function end(reason: 'logout' | 'expired', gen: number) {
    void dropKey(session.tokens?.jkt)
    tabs.announce({ type: 'logout', gen, ...(reason === 'expired' ? { expired: true } : {}) })
    adopt(undefined, reason)
  }

  function onMessage(message: TabMessage) {
    // storage: 'memory' keeps each tab's session to itself: no other tab's tokens or logout.
    if (isolated && message.type !== 'popup') return
    const held = session.tokens
    if (message.type === 'popup') {
      for (const waiter of popupWaiters) waiter(message)
    } else if (message.type === 'logout') {
      if (held && held.gen <= message.gen) adopt(undefined, message.expired ? 'expired' : 'logout', true)
    } else if (isTokenSet(message.tokens) && (!held || message.tokens.gen > held.gen)) {
      adopt(message.tokens, message.login ? 'login' : 'refresh', true)
    }
  }

  const isolated = config.storage === 'memory'
  const channel = createTabs(config.name, config.lockTimeout, onMessage)
  const tabs: typeof channel = isolated ? { ...channel, announce: (m) => m.type === 'popup' && channel.announce(m) } : channel

  /** Merges UserInfo claims into a set with a new ID token (`userInfo: true`; loaded only then). */
  async function enrich(next: TokenSet, previous?: TokenSet): Promise<TokenSet> {
    if (!config.userInfo || !next.user || next.idToken === previous?.idToken) return next
    try {
      return await (await import('./userinfo.js')).withUserInfo(await provider(), next)
    } catch (err) {
      report(asAuthError(err, 'UserInfo'))
      // Keep what UserInfo said before (same user: the ID token checks saw to that) rather than nothing.
      return previous?.userInfo ? { ...next, userInfo: previous.userInfo } : next
    }
  }

  const refresher = lazy(() =>
    import('./refresh.js').then((m) =>
      m.createRefresher({ store, tabs, provider, skew: config.refreshSkew, current: () => session.tokens, adopt: (t, fromOtherTab) => adopt(t, 'refresh', fromOtherTab), end, report, enrich, warn }),
    ),
  )
  const refresh = async (stale?: string) => (await refresher())(stale)

  // The store never rejects (it falls back to memory), so neither does `loaded`.
  const loaded = readTokens(store, warn).then(async (stored) => {
    let tokens = stored
    if (tokens && isOver(tokens, Date.now())) {
      // Expired before this page loaded, with nothing to renew it: start signed out.
      const gen = tokens.gen
      tokens = await store.update('tokens', (s) => (isTokenSet(s) && s.gen > gen ? s : undefined))
      if (!tokens) void dropKey(stored?.jkt)
    }
    const held = session.tokens
    adopt(held && (!tokens || held.gen >= tokens.gen) ? held : tokens, 'ready')
  })

  /** The access token expired and nothing can renew it: the session ends in every tab. */
  async function expire() {
    const held = session.tokens
    if (closed || !held || !isOver(held, Date.now())) return
    const kept = await store.update('tokens', (s) => (isTokenSet(s) && s.gen > held.gen ? s : undefined))
    if (session.tokens !== held) return
    if (kept) adopt(kept, 'refresh', true)
    else end('expired', held.gen)
  }

  async function getAccessToken(refused?: string, force = false): Promise<string> {
    await loaded
    if (force) refused = session.tokens?.accessToken
    const held = session.tokens
    const now = Date.now()
    if (held && held.accessToken !== refused && isUsable(held, now)) {
      // Due but still valid: refresh in the background and keep using this token meanwhile,
      // so a slow or retrying token endpoint never holds up API calls.
      if (!isFresh(held, now)) background()
      return held.accessToken
    }
    // Signed out here and in the store (a login in another tab would be there): no need to load the protocol.
    if (!held && !(await readTokens(store, warn))) throw new AuthError('login_required', 'No session; log in')
    return (await refresh(refused)).accessToken
  }

  function background() {
    const held = session.tokens
    if (closed || !held) return
    if (isOver(held, Date.now())) return void expire()
    if (!held.refreshToken || isFresh(held, Date.now())) return
    refresh().catch((err: unknown) => {
      const error = asAuthError(err)
      if (error.code !== 'login_required' && !reported.has(error)) report(error)
    })
  }
  const onVisible = () => {
    if (document.visibilityState === 'visible') background()
  }
  globalThis.document?.addEventListener('visibilitychange', onVisible)
  addEventListener('online', background)

  async function loginWithPopup(loginOptions: LoginOptions): Promise<AuthState> {
    // The popup finishes the login as another tab: only the shared store can hand it the attempt
    // (a popup's sessionStorage is a copy taken when it opens).
    if (!store.persistent) throw new AuthError('config', "login({ popup: true }) needs IndexedDB (storage: 'indexeddb'); use the redirect login")
    // Opened before the first await: browsers allow window.open only in the click that asked for it.
    const popup = openPopup(config.name)
    try {
      const { waitForPopup } = await import('./popup.js')
      const { startLogin } = await import('./login.js')
      const { url, state } = await startLogin(config, store, await provider(), loginOptions)
      popup.location.href = url.href
      return await waitForPopup(popup, state, (waiter) => {
        popupWaiters.add(waiter)
        return () => popupWaiters.delete(waiter)
      }, session.get)
    } catch (err) {
      popup.close()
      throw err
    }
  }

  return Object.freeze({
    async login(loginOptions: LoginOptions = {}) {
      if (loginOptions.popup) return loginWithPopup(loginOptions)
      // Login, callback and logout code is loaded when used: most page loads run none of it.
      const { startLogin } = await import('./login.js')
      const { url } = await startLogin(config, store, await provider(), loginOptions)
      location.assign(url.href)
      // The page is leaving: code after `await auth.login()` must not run meanwhile.
      return new Promise<never>(() => {})
    },

    async handleRedirect(href = location.href) {
      if (!isRedirectUri(config, href)) return null
      const params = new URL(href).searchParams
      if (!params.has('code') && !params.has('error') && !params.has('state')) return null
      if (href === location.href) history.replaceState(history.state, '', withoutCallbackParams(href))
      await loaded
      const state = params.get('state') ?? ''
      try {
        const { finishLogin } = await import('./login.js')
        const { tokens, result, popup } = await finishLogin(config, store, provider, href)
        const enriched = await enrich(tokens)
        const written = (await store.update('tokens', (s) => ({ ...enriched, gen: (isTokenSet(s) ? s.gen : 0) + 1 }))) as TokenSet
        tabs.announce({ type: 'tokens', tokens: written, login: true })
        adopt(written, 'login')
        if (popup) {
          tabs.announce({ type: 'popup', state })
          // The opener closes this popup when it hears the login; in case it cannot, close anyway.
          setTimeout(() => window.close(), 1000)
          // This page is closing: the app's code after `await handleRedirect()` must not run here.
          return new Promise<never>(() => {})
        }
        return result
      } catch (err) {
        const error = asAuthError(err, 'Login')
        if (globalThis.opener) tabs.announce({ type: 'popup', state, error: { code: error.code, message: error.message } })
        throw error
      }
    },

    getAccessToken: (options?: { forceRefresh?: boolean }) => getAccessToken(undefined, options?.forceRefresh === true),

    fetch: createAuthFetch(config.apiOrigins, (refused) => getAccessToken(refused), config.fetch, dpop && (async (request, token) => (await dpop()).send(request, token, session.tokens?.jkt, config.fetch))),

    async logout(logoutOptions: LogoutOptions = {}) {
      await loaded
      const { endSessionUrl, revokeRefreshToken } = await import('./logout.js')
      const ended = await tabs
        .withLock(async () => {
          const stored = await readTokens(store, warn)
          if (stored?.refreshToken) await revokeRefreshToken(provider, stored.refreshToken, warn)
          await store.update('tokens', () => undefined)
          await dropKey(stored?.jkt)
          return stored
        })
        .catch((err: unknown) => {
          // Logging out must not fail because another tab is stuck: clear what this tab can.
          if (!(err instanceof AuthError && (err.code === 'lock_timeout' || err.code === 'lock_lost'))) throw err
          return store.take('tokens') as Promise<TokenSet | undefined>
        })
      const last = ended ?? session.tokens
      end('logout', Math.max(last?.gen ?? 0, session.tokens?.gen ?? 0))
      if (logoutOptions.endSession ?? config.postLogoutRedirectUri !== undefined) {
        // Logged out here already; an unreachable provider only means no provider-side logout.
        const url = endSessionUrl(config, (await provider().catch(() => undefined))?.as, last?.idToken)
        if (url) location.assign(url)
      }
    },

    ready: () => loaded.then(session.get),

    getState: session.get,

    subscribe: session.subscribe,

    close() {
      closed = true
      keys?.close()
      timer.clear()
      session.clear()
      popupWaiters.clear()
      tabs.close()
      globalThis.document?.removeEventListener('visibilitychange', onVisible)
      removeEventListener('online', background)
    },
  })
}

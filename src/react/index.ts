// React binding of oauth-tabs (`oauth-tabs/react`). Built only on the client's public API
// (`subscribe`, `getState`, `ready`, `login`, `handleRedirect`, ...): the session, its tabs and its
// refreshes stay in the client; React only renders snapshots of it. No 'use client' directive:
// bundlers of SPAs warn about it (rolldown, rollup); a Next.js app imports this module from its own
// client component file.
import {
  createContext,
  createElement,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
  useSyncExternalStore,
  type ComponentType,
  type ReactNode,
} from 'react'
import type { Auth } from '../client.js'
import { AuthError } from '../errors.js'
import type { LoginOptions, RedirectResult } from '../login.js'
import type { AuthState } from '../state.js'

export { AuthError } from '../errors.js'

const AuthContext = createContext<Auth | null>(null)
AuthContext.displayName = 'OAuthTabs'

/** What the server renders, and what hydration starts from: no session is known there. */
const SERVER_STATE: AuthState = Object.freeze({ status: 'loading' })
const serverState = () => SERVER_STATE

/**
 * Props of {@link AuthProvider}.
 * @example
 * ```tsx
 * import { AuthProvider, type AuthProviderProps } from 'oauth-tabs/react'
 *
 * const props: AuthProviderProps = { client: auth }
 * const app = <AuthProvider {...props}><main /></AuthProvider>
 * ```
 */
export interface AuthProviderProps {
  /** The client, made once by `createAuth` (at module level, not during rendering). */
  client: Auth
  /** The app, or the part of it that uses {@link useAuth}. */
  children?: ReactNode
}

/**
 * Makes a client available to {@link useAuth}, {@link AuthCallback} and {@link RequireAuth} below it.
 * Create the client once, outside any component: every render, every tab and every refresh then
 * share the one session. On a server (`createAuth` returns an inert client there) everything below
 * renders the `loading` state.
 *
 * @example
 * ```tsx
 * import { createAuth } from 'oauth-tabs'
 * import { AuthProvider, useAuth } from 'oauth-tabs/react'
 * import { createRoot } from 'react-dom/client'
 *
 * const auth = createAuth({ issuer: 'https://id.example.com', clientId: 'my-spa', redirectUri: `${location.origin}/callback` })
 *
 * function Greeting() {
 *   const { status, user } = useAuth()
 *   return <p>{status === 'authenticated' ? `Hello ${String(user?.name)}` : status}</p>
 * }
 *
 * createRoot(document.getElementById('root')!).render(
 *   <AuthProvider client={auth}>
 *     <Greeting />
 *   </AuthProvider>,
 * )
 * ```
 */
export function AuthProvider({ client, children }: AuthProviderProps): ReactNode {
  return createElement(AuthContext.Provider, { value: client }, children)
}

/**
 * The client given to the nearest {@link AuthProvider}, for what {@link useAuth} does not cover
 * (`subscribe` to events, `ready()`).
 * @throws {@link AuthError} `config` outside an {@link AuthProvider}.
 * @example
 * ```tsx
 * import { useEffect } from 'react'
 * import { useAuthClient } from 'oauth-tabs/react'
 *
 * function SessionLog() {
 *   const auth = useAuthClient()
 *   useEffect(() => auth.subscribe((_, event) => console.log(event.type)), [auth])
 *   return null
 * }
 * ```
 */
export function useAuthClient(): Auth {
  const client = useContext(AuthContext)
  if (!client) throw new AuthError('config', 'useAuth() and the oauth-tabs/react components must be used inside <AuthProvider client={auth}>')
  return client
}

/**
 * What {@link useAuth} returns: the state, and the client's methods (the same functions on every render).
 * @example
 * ```tsx
 * import { useAuth, type UseAuthResult } from 'oauth-tabs/react'
 *
 * function Me() {
 *   const { status, fetch }: UseAuthResult = useAuth()
 *   return <button disabled={status !== 'authenticated'} onClick={() => void fetch('/api/me')}>Who am I?</button>
 * }
 * ```
 */
export interface UseAuthResult extends AuthState {
  /** {@link Auth.login}: redirects (never settles), or `{ popup: true }` resolves with the new state. */
  readonly login: Auth['login']
  /** {@link Auth.logout}: logs out in every tab. */
  readonly logout: Auth['logout']
  /** {@link Auth.fetch}: `fetch` with the access token for the allowed API origins. */
  readonly fetch: Auth['fetch']
  /** {@link Auth.getAccessToken}: a valid access token, refreshed when due (one request across all tabs). */
  readonly getAccessToken: Auth['getAccessToken']
}

/**
 * The session state (`status`, `user`, `expiresAt`) plus `login`, `logout`, `fetch` and
 * `getAccessToken`. The component re-renders on every change, in this tab or another one (a login,
 * a refresh, a logout, an expiry), through `useSyncExternalStore`: every component of one render
 * sees the same state (no tearing). The functions keep their identity across renders, so they are
 * safe in effect dependencies. A server render gives `{ status: 'loading' }`.
 * @throws {@link AuthError} `config` outside an {@link AuthProvider}.
 * @example
 * ```tsx
 * import { useAuth } from 'oauth-tabs/react'
 *
 * function Account() {
 *   const { status, user, login, logout } = useAuth()
 *   if (status === 'loading') return <p>Loading…</p>
 *   if (status === 'unauthenticated') return <button onClick={() => void login()}>Log in</button>
 *   return <button onClick={() => void logout()}>Log out {String(user?.name ?? user?.sub)}</button>
 * }
 * ```
 */
export function useAuth(): UseAuthResult {
  const auth = useAuthClient()
  const state = useSyncExternalStore(auth.subscribe, auth.getState, serverState)
  return useMemo(() => ({ ...state, login: auth.login, logout: auth.logout, fetch: auth.fetch, getAccessToken: auth.getAccessToken }), [state, auth])
}

/**
 * Where {@link useHandleRedirect} stands: `pending` while the login completes, then `done` (with
 * `result`, `null` when the URL carried no callback) or `error` (with the {@link AuthError}).
 * @example
 * ```tsx
 * import { useHandleRedirect, type RedirectOutcome } from 'oauth-tabs/react'
 *
 * function Callback() {
 *   const outcome: RedirectOutcome = useHandleRedirect()
 *   return <p>{outcome.status === 'error' ? outcome.error.code : outcome.status}</p>
 * }
 * ```
 */
export type RedirectOutcome =
  | {
      /** Still completing. */
      readonly status: 'pending'
    }
  | {
      /** Completed. */
      readonly status: 'done'
      /** What `handleRedirect` resolved to. */
      readonly result: RedirectResult | null
    }
  | {
      /** Failed. */
      readonly status: 'error'
      /** Why. */
      readonly error: AuthError
    }

/**
 * One `handleRedirect` per callback URL in this page, whatever the number of components, mounts and
 * effect runs (StrictMode runs effects twice): the URL carries a one-time code, and a second code
 * exchange would fail (or, worse, race the first). Keyed by the URL as the page was loaded.
 */
const redirects = new Map<string, Promise<RedirectResult | null>>()

function handleRedirectOnce(auth: Auth, href: string): Promise<RedirectResult | null> {
  let handled = redirects.get(href)
  if (!handled) {
    handled = auth.handleRedirect(href)
    redirects.set(href, handled)
  }
  return handled
}

/** The client rejects with `AuthError` only; anything else (a bug) is still given a code. */
const asAuthError = (err: unknown) => (err instanceof AuthError ? err : new AuthError('invalid_response', String(err), { cause: err }))

const currentHref = () => (typeof location === 'undefined' ? '' : location.href)

/** The latest value of a prop, for effects that must not re-run when a callback's identity changes. */
function useLatest<T>(value: T): { readonly current: T } {
  const ref = useRef(value)
  useEffect(() => {
    ref.current = value
  })
  return ref
}

/**
 * Callbacks of {@link useHandleRedirect}.
 * @example
 * ```tsx
 * import type { HandleRedirectCallbacks } from 'oauth-tabs/react'
 *
 * const callbacks: HandleRedirectCallbacks = {
 *   onSuccess: (result) => history.replaceState(null, '', result?.returnTo ?? '/'),
 *   onError: (error) => console.warn(error.code),
 * }
 * ```
 */
export interface HandleRedirectCallbacks {
  /** Called once with the outcome: `null` when the URL carried no callback (e.g. a reload of the callback page). */
  onSuccess?: (result: RedirectResult | null) => void
  /** Called once when the login failed (`state_mismatch`, `access_denied`, ...). Stored tokens are untouched. */
  onError?: (error: AuthError) => void
}

/**
 * Completes a login on the callback route: runs `handleRedirect` once for this URL (one code
 * exchange, never two, even when StrictMode runs effects twice or the component mounts again), and
 * returns where it stands. The callbacks run once, after the outcome is known.
 * @example
 * ```tsx
 * import { useHandleRedirect } from 'oauth-tabs/react'
 *
 * function Callback() {
 *   const outcome = useHandleRedirect({ onSuccess: (result) => history.replaceState(null, '', result?.returnTo ?? '/') })
 *   if (outcome.status === 'error') return <p>Login failed: {outcome.error.message}</p>
 *   return <p>Signing in…</p>
 * }
 * ```
 */
export function useHandleRedirect(callbacks: HandleRedirectCallbacks = {}): RedirectOutcome {
  const auth = useAuthClient()
  // The URL as first rendered: handleRedirect removes the code from the address bar at once, and a
  // second effect run must find the same exchange, not a clean URL.
  const [href] = useState(currentHref)
  const [outcome, setOutcome] = useState<RedirectOutcome>({ status: 'pending' })
  const latest = useLatest(callbacks)
  useEffect(() => {
    let active = true
    handleRedirectOnce(auth, href).then(
      (result) => {
        if (!active) return
        setOutcome({ status: 'done', result })
        latest.current.onSuccess?.(result)
      },
      (err: unknown) => {
        if (!active) return
        const error = asAuthError(err)
        setOutcome({ status: 'error', error })
        latest.current.onError?.(error)
      },
    )
    return () => {
      active = false
    }
  }, [auth, href, latest])
  return outcome
}

/**
 * Props of {@link AuthCallback}.
 * @example
 * ```tsx
 * import { AuthCallback, type AuthCallbackProps } from 'oauth-tabs/react'
 *
 * const props: AuthCallbackProps = { fallback: <p>Signing in…</p>, onSuccess: (r) => location.replace(r?.returnTo ?? '/') }
 * const route = <AuthCallback {...props} />
 * ```
 */
export interface AuthCallbackProps extends HandleRedirectCallbacks {
  /** Rendered while the login completes (default: nothing). */
  fallback?: ReactNode
  /** Rendered once the outcome is known (default: nothing); usually `onSuccess` navigates away first. */
  children?: ReactNode
}

/**
 * The callback route as a component: completes the login once ({@link useHandleRedirect}), renders
 * `fallback` meanwhile, then calls `onSuccess` (navigate to `result.returnTo` there). Without
 * `onError`, a failed login is thrown during rendering, for the nearest error boundary.
 * @example
 * ```tsx
 * import { AuthCallback } from 'oauth-tabs/react'
 *
 * function CallbackPage() {
 *   return (
 *     <AuthCallback
 *       fallback={<p>Signing in…</p>}
 *       onSuccess={(result) => history.replaceState(null, '', result?.returnTo ?? '/')}
 *       onError={(error) => console.error(error.code, error.message)}
 *     />
 *   )
 * }
 * ```
 */
export function AuthCallback({ fallback = null, children = null, onSuccess, onError }: AuthCallbackProps): ReactNode {
  const outcome = useHandleRedirect({ onSuccess, onError })
  if (outcome.status === 'pending') return fallback
  if (outcome.status === 'error' && !onError) throw outcome.error
  return children
}

/**
 * One login at a time per client, whatever the number of guards and effect runs. A redirect login
 * never settles (the page leaves), so it is started once; a failed one may be tried again.
 */
const logins = new WeakMap<Auth, Promise<unknown>>()

function loginOnce(auth: Auth, options?: LoginOptions): Promise<unknown> | undefined {
  if (logins.has(auth)) return undefined
  const started = auth.login(options).finally(() => logins.delete(auth))
  logins.set(auth, started)
  return started
}

/**
 * Options of {@link RequireAuth} and {@link withAuthenticationRequired}.
 * @example
 * ```tsx
 * import type { RequireAuthOptions } from 'oauth-tabs/react'
 *
 * const options: RequireAuthOptions = { fallback: <p>Redirecting to login…</p>, loginOptions: { params: { prompt: 'login' } } }
 * ```
 */
export interface RequireAuthOptions {
  /** Rendered until the user is signed in (default: nothing). */
  fallback?: ReactNode
  /** Options of the login it starts; `returnTo` defaults to the current path (with query and hash), as for `login()`. */
  loginOptions?: Omit<LoginOptions, 'popup'>
  /** Called when starting the login failed (e.g. discovery failed); without it the error is thrown during rendering. */
  onError?: (error: AuthError) => void
}

/**
 * Props of {@link RequireAuth}.
 * @example
 * ```tsx
 * import { RequireAuth, type RequireAuthProps } from 'oauth-tabs/react'
 *
 * const props: RequireAuthProps = { fallback: <p>…</p> }
 * const page = <RequireAuth {...props}><h1>Orders</h1></RequireAuth>
 * ```
 */
export interface RequireAuthProps extends RequireAuthOptions {
  /** Rendered only when signed in. */
  children?: ReactNode
}

/**
 * Renders `children` only when signed in. Once this tab has read the stored session (`ready()`),
 * a signed-out user is sent to log in (one login, even with several guards or StrictMode), with
 * `returnTo` set to the current path; `fallback` is rendered meanwhile. A session that expires
 * while mounted starts a new login; a logout does not (the user asked to leave), and shows `fallback`.
 * @example
 * ```tsx
 * import { RequireAuth, useAuth } from 'oauth-tabs/react'
 *
 * function Orders() {
 *   const { user } = useAuth()
 *   return <h1>Orders of {String(user?.name)}</h1>
 * }
 *
 * const page = (
 *   <RequireAuth fallback={<p>Signing in…</p>}>
 *     <Orders />
 *   </RequireAuth>
 * )
 * ```
 */
export function RequireAuth({ children = null, fallback = null, loginOptions, onError }: RequireAuthProps): ReactNode {
  const auth = useAuthClient()
  const { status } = useSyncExternalStore(auth.subscribe, auth.getState, serverState)
  const [failure, setFailure] = useState<AuthError>()
  const latest = useLatest({ loginOptions, onError })
  useEffect(() => {
    let active = true
    const start = () => {
      if (!active) return
      loginOnce(auth, latest.current.loginOptions)?.catch((err: unknown) => {
        if (!active) return
        const error = asAuthError(err)
        if (latest.current.onError) latest.current.onError(error)
        else setFailure(error)
      })
    }
    void auth.ready().then((state) => {
      if (state.status === 'unauthenticated') start()
    })
    const unsubscribe = auth.subscribe((_, event) => {
      if (event.type === 'expired') start()
    })
    return () => {
      active = false
      unsubscribe()
    }
  }, [auth, latest])
  if (failure) throw failure
  return status === 'authenticated' ? children : fallback
}

/**
 * Wraps a component in {@link RequireAuth}: it renders only when signed in, and a signed-out user
 * is sent to log in.
 * @example
 * ```tsx
 * import { withAuthenticationRequired } from 'oauth-tabs/react'
 *
 * function Settings({ section }: { section: string }) {
 *   return <h1>Settings: {section}</h1>
 * }
 *
 * export const ProtectedSettings = withAuthenticationRequired(Settings, { fallback: <p>Signing in…</p> })
 * const page = <ProtectedSettings section="profile" />
 * ```
 */
export function withAuthenticationRequired<P extends object>(Component: ComponentType<P>, options: RequireAuthOptions = {}): ComponentType<P> {
  function WithAuthenticationRequired(props: P): ReactNode {
    return createElement(RequireAuth, options, createElement(Component, props))
  }
  WithAuthenticationRequired.displayName = `withAuthenticationRequired(${Component.displayName || Component.name || 'Component'})`
  return WithAuthenticationRequired
}

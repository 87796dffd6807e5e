// The demo's React page (/react.html): the same session as the plain page, rendered with
// oauth-tabs/react. Open it in several tabs: one refresh re-renders every one of them.
import { StrictMode, useEffect, useState } from 'react'
import { createRoot } from 'react-dom/client'
import { AuthError, createAuth, type AuthEvent } from '../../src/index.js'
import { AuthCallback, AuthProvider, RequireAuth, useAuth, useAuthClient } from '../../src/react/index.js'

const env = import.meta.env
const page = `${location.origin}/react.html`

// Once, at module level: every render, tab and refresh share this one client.
const auth = createAuth({
  issuer: env.VITE_ISSUER,
  clientId: env.VITE_CLIENT_ID,
  redirectUri: page,
  scope: env.VITE_SCOPE ?? 'openid profile email offline_access',
  apiOrigins: env.VITE_API_ORIGINS ? String(env.VITE_API_ORIGINS).split(',') : undefined,
  tokenProxy: env.VITE_TOKEN_PROXY || undefined,
  // The provider puts name and email in UserInfo, not in the ID token (as the main demo page does).
  userInfo: env.VITE_USERINFO !== '0',
  postLogoutRedirectUri: page,
})

const describe = (err: unknown) => (err instanceof AuthError ? `${err.code}: ${err.message}` : String(err))

/** Seconds left on the access token, ticking. */
function Countdown({ expiresAt }: { expiresAt?: number }) {
  const [now, setNow] = useState(Date.now)
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), 250)
    return () => clearInterval(id)
  }, [])
  return <strong>{expiresAt ? `${Math.max(0, Math.round((expiresAt - now) / 1000))} s` : '–'}</strong>
}

/** What last changed the session, and where it came from (its own component: Session re-renders through useAuth only). */
function LastEvent() {
  const client = useAuthClient()
  const [event, setEvent] = useState<AuthEvent>()
  useEffect(() => client.subscribe((_, e) => setEvent(e)), [client])
  if (!event) return <p id="last-event">No change yet</p>
  const origin = event.type === 'refresh' || event.type === 'login' ? (event.fromOtherTab ? ' (adopted from another tab)' : ' (sent by this tab)') : ''
  return <p id="last-event">Last change: {event.type}{origin}</p>
}

function Session({ onError }: { onError: (message: string) => void }) {
  const { status, user, expiresAt, login, logout, getAccessToken } = useAuth()
  const signedIn = status === 'authenticated'
  return (
    <section className="card" id="session">
      <h2>Session</h2>
      <p className="status">
        <span id="status" className="badge" data-status={status}>{status}</span>{' '}
        <span id="who">{user ? `as ${String(user.name ?? user.sub)}` : ''}</span>
      </p>
      <p className="expiry">
        Access token expires in <Countdown expiresAt={expiresAt} /> <span id="expires-at" hidden>{expiresAt ?? ''}</span>
      </p>
      <LastEvent />
      <div className="buttons">
        <button id="login" disabled={signedIn} onClick={() => login().catch((err) => onError(describe(err)))}>Log in</button>
        <button id="refresh" disabled={!signedIn} onClick={() => getAccessToken({ forceRefresh: true }).catch((err) => onError(describe(err)))}>Force a refresh</button>
        <button id="tab" onClick={() => window.open(page, '_blank')}>Open another tab</button>
        <button id="logout" disabled={!signedIn} onClick={() => logout().catch((err) => onError(describe(err)))}>Log out</button>
      </div>
    </section>
  )
}

/** Only mounted on demand: RequireAuth would otherwise send a signed-out visitor to log in at once. */
function ApiPanel() {
  const { fetch } = useAuth()
  const [result, setResult] = useState('')
  return (
    <>
      <button id="api" onClick={async () => {
        try {
          const response = await fetch('/api/me')
          setResult(`GET /api/me → ${response.status}\n${await response.text()}`)
        } catch (err) {
          setResult(describe(err))
        }
      }}>Call the API</button>
      <pre id="api-result" aria-live="polite">{result}</pre>
    </>
  )
}

function App() {
  const [error, setError] = useState('')
  const [protectedOpen, setProtectedOpen] = useState(false)
  return (
    <>
      <header>
        <h1>oauth-tabs <span>demo · React</span></h1>
        <p>
          Provider: {env.VITE_ISSUER} · client: {env.VITE_CLIENT_ID} · <a href="/" style={{ color: 'inherit' }}>plain page</a>
        </p>
      </header>
      <main>
        <AuthCallback
          fallback={<p className="card">Signing in…</p>}
          onSuccess={(result) => result && history.replaceState(null, '', result.returnTo)}
          onError={(err) => setError(`login failed: ${describe(err)}`)}
        >
          <Session onError={setError} />
          <section className="card" id="protected">
            <h2>Protected <small>(RequireAuth: signs you in when you open it)</small></h2>
            {protectedOpen ? (
              <RequireAuth fallback={<p>Signing in…</p>}>
                <ApiPanel />
              </RequireAuth>
            ) : (
              <button id="open-protected" onClick={() => setProtectedOpen(true)}>Open</button>
            )}
            {error && <pre id="error">{error}</pre>}
          </section>
        </AuthCallback>
      </main>
    </>
  )
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <AuthProvider client={auth}>
      <App />
    </AuthProvider>
  </StrictMode>,
)

import { AuthError, createAuth, type AuthState } from '../src/index.js'

const env = import.meta.env
const $ = (id: string) => document.getElementById(id)!

const auth = createAuth({
  issuer: env.VITE_ISSUER,
  clientId: env.VITE_CLIENT_ID,
  redirectUri: `${location.origin}/callback`,
  scope: env.VITE_SCOPE ?? 'openid profile email offline_access',
  apiOrigins: env.VITE_API_ORIGINS ? String(env.VITE_API_ORIGINS).split(',') : undefined,
  tokenProxy: env.VITE_TOKEN_PROXY || undefined,
  // RP-initiated logout: the provider ends its session too, then sends the browser back here.
  postLogoutRedirectUri: `${location.origin}/`,
})

function log(text: string, kind = 'info') {
  const item = document.createElement('li')
  item.className = kind
  item.textContent = `${new Date().toLocaleTimeString()}  ${text}`
  $('log').prepend(item)
  while ($('log').children.length > 200) $('log').lastElementChild!.remove()
}

function describe(err: unknown): string {
  return err instanceof AuthError ? `${err.code}: ${err.message}` : String(err)
}

function render(state: AuthState) {
  $('status').textContent = state.status
  $('status').dataset.status = state.status
  $('who').textContent = state.user ? `as ${String(state.user.name ?? state.user.sub)}` : ''
  const claims = $('claims')
  claims.replaceChildren()
  for (const [key, value] of Object.entries(state.user ?? {})) {
    // Protocol claims of the ID token (its own exp/iat would be mistaken for the access token's).
    if (['aud', 'iss', 'nonce', 'at_hash', 'sid', 'azp', 'exp', 'iat', 'auth_time'].includes(key)) continue
    const dt = document.createElement('dt')
    const dd = document.createElement('dd')
    dt.textContent = key
    dd.textContent = String(value)
    claims.append(dt, dd)
  }
  const signedIn = state.status === 'authenticated'
  if (!signedIn) $('api-result').textContent = ''
  ;($('login') as HTMLButtonElement).disabled = signedIn
  for (const id of ['api', 'refresh', 'logout']) ($(id) as HTMLButtonElement).disabled = !signedIn
}

auth.subscribe((state, event) => {
  render(state)
  const detail = event.type === 'refresh' || event.type === 'login' ? ` (expires ${new Date(state.expiresAt!).toLocaleTimeString()})` : ''
  log(`${event.type}${detail}${event.message ? `: ${event.message}` : ''}`, event.type === 'error' ? 'error' : event.type === 'warning' ? 'warning' : 'info')
})

setInterval(() => {
  const { expiresAt } = auth.getState()
  $('countdown').textContent = expiresAt ? `${Math.max(0, Math.round((expiresAt - Date.now()) / 1000))} s` : '–'
}, 250)

$('issuer').textContent = `Provider: ${env.VITE_ISSUER} · client: ${env.VITE_CLIENT_ID}${env.VITE_TOKEN_PROXY ? ` · token requests via the proxy at ${env.VITE_TOKEN_PROXY} (the secret stays on the server)` : ''}`
$('login').onclick = () => auth.login().catch((err) => log(describe(err), 'error'))
$('logout').onclick = () => auth.logout().catch((err) => log(describe(err), 'error'))
$('tab').onclick = () => window.open(location.origin + '/', '_blank')
$('refresh').onclick = () =>
  auth.getAccessToken({ forceRefresh: true }).then(
    () => log('forced refresh done'),
    (err) => log(describe(err), 'error'),
  )
$('api').onclick = async () => {
  try {
    const response = await auth.fetch('/api/me')
    const body = await response.text()
    $('api-result').textContent = `GET /api/me → ${response.status}\n${body}`
    log(`API answered ${response.status}`)
  } catch (err) {
    $('api-result').textContent = describe(err)
    log(describe(err), 'error')
  }
}

try {
  const result = await auth.handleRedirect()
  if (result) history.replaceState(null, '', result.returnTo)
} catch (err) {
  log(`login failed: ${describe(err)}`, 'error')
  history.replaceState(null, '', '/')
}
render(auth.getState())

import { AuthError, createAuth, type AuthEvent, type AuthState } from '../src/index.js'
import { createRefreshReport, type Cycle } from './refresh-report.js'

const env = import.meta.env
const $ = (id: string) => document.getElementById(id)!

// What this tab itself sent to the token endpoint: the ground truth behind "sent the refresh".
let refreshRequests = 0
const countingFetch: typeof fetch = (input, init) => {
  if (init?.method === 'POST' && /(^|&)grant_type=refresh_token(&|$)/.test(String(init.body))) {
    refreshRequests += 1
    $('role').dataset.requests = String(refreshRequests)
  }
  return fetch(input, init)
}

// VITE_DPOP=1 npm start: tokens bound to this browser's key (DPoP). The provider then issues access
// tokens for the demo API, which its UserInfo endpoint refuses: name and email come in the ID token.
const dpop = env.VITE_DPOP === '1'

const auth = createAuth({
  issuer: env.VITE_ISSUER,
  clientId: env.VITE_CLIENT_ID,
  redirectUri: `${location.origin}/callback`,
  scope: env.VITE_SCOPE ?? 'openid profile email offline_access',
  apiOrigins: env.VITE_API_ORIGINS ? String(env.VITE_API_ORIGINS).split(',') : undefined,
  tokenProxy: env.VITE_TOKEN_PROXY || undefined,
  // RP-initiated logout: the provider ends its session too, then sends the browser back here.
  postLogoutRedirectUri: `${location.origin}/`,
  // name and email come from the UserInfo endpoint: the provider keeps them out of the ID token.
  userInfo: env.VITE_USERINFO !== '0' && !dpop,
  dpop,
  fetch: countingFetch,
})

const tabName = `tab ${crypto.randomUUID().slice(0, 4)}`
$('tab-name').textContent = tabName
const report = createRefreshReport(tabName, renderRefreshes)

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

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`
const time = (ms: number) => new Date(ms).toLocaleTimeString()

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

/** The headline for this tab: did it do the last session change itself, or adopt another tab's? */
function renderRole(event: AuthEvent) {
  const mine = !event.fromOtherTab
  const what = {
    login: mine ? 'Signed in in this tab.' : 'Adopted a sign-in from another tab.',
    refresh: mine ? 'This tab sent the last refresh.' : 'Adopted the last refresh from another tab.',
    logout: mine ? 'Signed out in this tab.' : 'Adopted a sign-out from another tab.',
    expired: mine ? 'The session expired (noticed in this tab).' : 'The session expired (noticed in another tab).',
  }[event.type as 'login' | 'refresh' | 'logout' | 'expired']
  $('role').textContent = what
  $('role').dataset.role = event.type === 'refresh' ? (mine ? 'sent' : 'adopted') : event.type
}

function renderCycle(cycle: Cycle): HTMLLIElement {
  const item = document.createElement('li')
  const sender = [...cycle.tabs].filter(([, sent]) => sent).map(([tab]) => (tab === tabName ? 'this tab' : tab))
  const grants = cycle.grants === undefined ? '' : `${plural(cycle.grants, 'refresh grant')}, `
  item.textContent = `${time(cycle.seenAt)}: ${grants}${cycle.tabs.size} of ${plural(report.open.size, 'tab')} updated` + (sender.length ? ` (sent by ${sender.join(' and ')})` : '')
  item.dataset.expiresAt = String(cycle.expiresAt)
  item.dataset.tabs = String(cycle.tabs.size)
  item.dataset.senders = String(sender.length)
  if (cycle.grants !== undefined) item.dataset.grants = String(cycle.grants)
  return item
}

function renderRefreshes() {
  $('tabs-open').textContent = String(report.open.size)
  const cycles = [...report.cycles.values()].sort((a, b) => b.expiresAt - a.expiresAt)
  $('cycles').replaceChildren(...cycles.map(renderCycle))
  const last = cycles[0]
  if (last?.grants !== undefined) {
    $('headline').classList.remove('hint')
    $('headline').textContent = `${plural(last.grants, 'refresh grant')}, ${plural(last.tabs.size, 'tab')} updated.`
  }
}

/** The provider's count of refresh grants since the demo started (undefined when the server has none). */
async function readGrants(): Promise<number | undefined> {
  try {
    const response = await fetch('/demo/stats', { cache: 'no-store' })
    const { refreshGrants } = (await response.json()) as { refreshGrants: number | null }
    if (typeof refreshGrants !== 'number') throw new Error('no count')
    $('grants').textContent = String(refreshGrants)
    $('grants').dataset.count = String(refreshGrants)
    return refreshGrants
  } catch {
    $('grants').textContent = 'not available (external provider)'
    return undefined
  }
}
// The count when this tab last looked at a cycle (or loaded): each cycle shows the grants since then.
let grantsSeen = readGrants()
setInterval(() => void readGrants(), 3000)

auth.subscribe((state, event) => {
  render(state)
  if (event.type === 'login' || event.type === 'refresh' || event.type === 'logout' || event.type === 'expired') renderRole(event)
  if (event.type === 'ready') $('role').textContent = state.status === 'authenticated' ? 'Signed in (the session was read from storage).' : 'Signed out.'
  if (event.type === 'refresh' && state.expiresAt) {
    const cycle = report.updated(state.expiresAt, !event.fromOtherTab)
    const before = grantsSeen
    grantsSeen = readGrants()
    void Promise.all([before, grantsSeen]).then(([then, now]) => {
      if (then === undefined || now === undefined) return
      cycle.grants = now - then
      renderRefreshes()
    })
  }
  const origin = event.type === 'ready' || event.type === 'warning' || event.type === 'error' ? '' : event.fromOtherTab ? ' · from another tab' : ' · this tab'
  const detail = event.type === 'refresh' || event.type === 'login' ? ` (expires ${time(state.expiresAt!)})` : ''
  log(`${event.type}${origin}${detail}${event.message ? `: ${event.message}` : ''}`, event.type === 'error' ? 'error' : event.type === 'warning' ? 'warning' : 'info')
})

setInterval(() => {
  const { expiresAt } = auth.getState()
  $('countdown').textContent = expiresAt ? `${Math.max(0, Math.round((expiresAt - Date.now()) / 1000))} s` : '–'
}, 250)

$('issuer').textContent = `Provider: ${env.VITE_ISSUER} · client: ${env.VITE_CLIENT_ID}${env.VITE_TOKEN_PROXY ? ` · token requests via the proxy at ${env.VITE_TOKEN_PROXY} (the secret stays on the server)` : ''}${dpop ? ' · DPoP: tokens bound to this browser\'s key (the API shows its thumbprint, jkt)' : ''}`
$('issuer').dataset.dpop = String(dpop)
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
    let shown = body
    try {
      shown = JSON.stringify(JSON.parse(body), null, 2)
    } catch {
      // Not JSON: shown as it came.
    }
    $('api-result').textContent = `GET /api/me → ${response.status}\n${shown}`
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

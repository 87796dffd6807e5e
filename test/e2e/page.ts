// The page the end-to-end tests drive: the built package (dist/), configured from the
// server, with hooks to read state and events. One page = one tab.
import { createAuth, type AuthState } from '../../dist/index.js'

interface PageConfig {
  issuer: string
  clientId: string
  scope: string
  refreshSkew?: number
  name?: string
  postLogoutRedirectUri?: string
  tokenProxy?: string
  lockTimeout?: number
}
type Win = typeof window & Record<string, any>
const w = window as Win
const config = w.__CONFIG__ as PageConfig

const auth = createAuth({ ...config, redirectUri: `${location.origin}/callback` })
w.auth = auth
w.events = [] as { type: string; status: string; at: number; code?: string; fromOtherTab?: boolean }[]
auth.subscribe((state: AuthState, event) => {
  w.events.push({ type: event.type, status: state.status, at: Date.now(), code: event.error?.code, message: event.message, fromOtherTab: event.fromOtherTab })
})
w.state = () => auth.getState()
w.callApi = async (path = '/api/me') => {
  try {
    return (await auth.fetch(path)).status
  } catch (err) {
    return (err as { code?: string }).code ?? String(err)
  }
}
w.ready = (async () => {
  try {
    const result = await auth.handleRedirect()
    if (result) {
      w.redirectResult = result
      w.callbackUrl = location.href
      history.replaceState(null, '', result.returnTo)
    }
  } catch (err) {
    w.callbackError = { code: (err as { code?: string }).code, message: String((err as Error).message) }
  }
  if (auth.getState().status === 'loading') {
    await new Promise<void>((resolve) => {
      const off = auth.subscribe((s) => s.status !== 'loading' && (off(), resolve()))
    })
  }
  return auth.getState().status
})()

// Popup login. `#popup-login` logs in from a click (a user gesture: the popup may open);
// `?popup-now` calls it as the page loads, outside any gesture (a popup blocker's case).
// `popupOutcome` is the promise's outcome; `popupSettledAtOnce` says whether it settled
// before the next task, i.e. without waiting for anything.
function popupLogin() {
  const outcome = auth.login({ popup: true })
  let settled = false
  outcome.then(
    (state) => ((settled = true), (w.popupOutcome = { state })),
    (err) => ((settled = true), (w.popupOutcome = { error: { code: (err as { code?: string }).code, message: String((err as Error).message) } })),
  )
  setTimeout(() => (w.popupSettledAtOnce = settled))
}
const button = document.createElement('button')
button.id = 'popup-login'
button.textContent = 'Log in (popup)'
button.onclick = popupLogin
document.body.append(button)
if (new URLSearchParams(location.search).has('popup-now')) popupLogin()

// Benchmark hooks: when this tab first held each access-token expiry (wall clock, not Date.now,
// which tests shift), and a baseline that reads IndexedDB on every call.
w.adoptedAt = {} as Record<number, number>
auth.subscribe((state) => {
  if (state.expiresAt && !(state.expiresAt in w.adoptedAt)) w.adoptedAt[state.expiresAt] = performance.timeOrigin + performance.now()
})
let db: Promise<IDBDatabase> | undefined
w.readStoreEveryTime = async () => {
  db ??= new Promise((resolve, reject) => {
    const open = indexedDB.open(`oauth-tabs:${config.name ?? 'default'}`)
    open.onsuccess = () => resolve(open.result)
    open.onerror = () => reject(open.error)
  })
  const tx = (await db).transaction('kv').objectStore('kv').get('tokens')
  return new Promise<string>((resolve, reject) => {
    tx.onsuccess = () => resolve(tx.result.accessToken)
    tx.onerror = () => reject(tx.error)
  })
}
w.callsPerSecond = async (which: 'ours' | 'idb', ms = 1000) => {
  const fn = which === 'ours' ? () => auth.getAccessToken() : w.readStoreEveryTime
  await fn()
  let calls = 0
  const start = performance.now()
  while (performance.now() - start < ms) {
    for (let i = 0; i < 100; i++) await fn()
    calls += 100
  }
  return (calls * 1000) / (performance.now() - start)
}

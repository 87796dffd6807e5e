import { act, cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react'
import { Component, StrictMode, type ReactNode } from 'react'
import { renderToString } from 'react-dom/server'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { AuthError, type Auth } from '../../src/index.js'
import { AuthCallback, AuthProvider, RequireAuth, useAuth, withAuthenticationRequired, type UseAuthResult } from '../../src/react/index.js'
import { fakeProvider, installFakeLocks, logIn, openTab, REDIRECT, startLogin } from './helpers.js'

const START = 'https://app.example/start?x=1'

beforeEach(() => {
  installFakeLocks()
})

afterEach(() => {
  cleanup()
  history.replaceState(null, '', START)
})

/** Shows the session as text, and records what every render of it saw. */
function Profile({ seen }: { seen?: UseAuthResult[] }) {
  const auth = useAuth()
  seen?.push(auth)
  return (
    <p data-testid="profile">
      {auth.status}
      {auth.user ? ` as ${String(auth.user.name)}` : ''}
      {auth.expiresAt ? ` until ${auth.expiresAt}` : ''}
      <button onClick={() => void auth.logout()}>Log out</button>
    </p>
  )
}

/** Renders one tab's app in its own root (two roots stand for two tabs). */
function renderTab(auth: Auth, seen?: UseAuthResult[]) {
  const view = render(
    <StrictMode>
      <AuthProvider client={auth}>
        <Profile seen={seen} />
      </AuthProvider>
    </StrictMode>,
  )
  const own = within(view.container)
  return { text: () => own.getByTestId('profile').textContent!.replace('Log out', ''), own }
}

describe('useAuth', () => {
  it('renders the signed-in user, and re-renders on login', async () => {
    const op = fakeProvider()
    const auth = openTab(op)
    const tab = renderTab(auth)
    await waitFor(() => expect(tab.text()).toBe('unauthenticated'))
    await act(() => logIn(auth, op))
    expect(tab.text()).toBe(`authenticated as Ada until ${auth.getState().expiresAt}`)
  })

  it('re-renders every tab on one refresh (one token request), and on logout', async () => {
    const op = fakeProvider({ refreshedExpiresIn: 600 })
    const a = openTab(op)
    const b = openTab(op)
    const tabA = renderTab(a)
    const tabB = renderTab(b)
    await act(() => logIn(a, op))
    await waitFor(() => expect(tabB.text()).toBe(tabA.text()))
    const before = a.getState().expiresAt
    expect(tabA.text()).toBe(`authenticated as Ada until ${before}`)

    await act(() => a.getAccessToken({ forceRefresh: true }))
    const after = a.getState().expiresAt!
    expect(after).toBeGreaterThan(before!)
    await waitFor(() => expect(tabB.text()).toBe(`authenticated as Ada until ${after}`))
    expect(tabA.text()).toBe(`authenticated as Ada until ${after}`)
    expect(op.requests('/token', 'refresh_token')).toHaveLength(1)

    await act(async () => fireEvent.click(tabB.own.getByText('Log out')))
    await waitFor(() => expect(tabA.text()).toBe('unauthenticated'))
    expect(tabB.text()).toBe('unauthenticated')
  })

  it('keeps the functions identical across renders while the state object changes', async () => {
    const op = fakeProvider()
    const auth = openTab(op)
    const seen: UseAuthResult[] = []
    renderTab(auth, seen)
    await act(() => logIn(auth, op))
    const first = seen[0]
    const last = seen.at(-1)!
    expect(last.status).toBe('authenticated')
    expect(last).not.toBe(first)
    for (const name of ['login', 'logout', 'fetch', 'getAccessToken'] as const) {
      expect(new Set(seen.map((s) => s[name]))).toEqual(new Set([auth[name]]))
    }
  })

  it('reads a cached snapshot: no "getSnapshot should be cached" warning and no render loop', async () => {
    const errors = vi.spyOn(console, 'error')
    const op = fakeProvider()
    const auth = openTab(op)
    const seen: UseAuthResult[] = []
    const tab = renderTab(auth, seen)
    await act(() => logIn(auth, op))
    await act(() => auth.getAccessToken({ forceRefresh: true }))
    await act(() => auth.logout())
    expect(tab.text()).toBe('unauthenticated')
    expect(errors.mock.calls.flat().join('\n')).not.toMatch(/getSnapshot|Maximum update depth|not wrapped in act/)
    // StrictMode renders twice; a handful of states (loading, unauthenticated, login, refresh, logout).
    expect(seen.length).toBeLessThan(20)
  })

  it('throws a config AuthError outside an AuthProvider', () => {
    vi.spyOn(console, 'error').mockImplementation(() => {})
    let thrown: unknown
    try {
      render(<Profile />)
    } catch (err) {
      thrown = err
    }
    expect(thrown).toBeInstanceOf(AuthError)
    expect(thrown).toMatchObject({ code: 'config', message: expect.stringContaining('<AuthProvider client={auth}>') })
  })
})

describe('AuthCallback', () => {
  it('exchanges the code once under StrictMode and reports the result once', async () => {
    const op = fakeProvider()
    const auth = openTab(op)
    await auth.ready()
    const callback = op.authorize(await startLogin(auth, { appState: { draft: 7 } }))
    history.replaceState(null, '', callback)
    const onSuccess = vi.fn()
    const onError = vi.fn()
    render(
      <StrictMode>
        <AuthProvider client={auth}>
          <AuthCallback fallback={<p>Signing in…</p>} onSuccess={onSuccess} onError={onError}>
            <Profile />
          </AuthCallback>
        </AuthProvider>
      </StrictMode>,
    )
    expect(screen.getByText('Signing in…')).toBeTruthy()
    await waitFor(() => expect(onSuccess).toHaveBeenCalled())
    expect(onSuccess).toHaveBeenCalledTimes(1)
    expect(onSuccess).toHaveBeenCalledWith({ returnTo: '/start?x=1', appState: { draft: 7 } })
    expect(onError).not.toHaveBeenCalled()
    expect(op.requests('/token', 'authorization_code')).toHaveLength(1)
    expect(location.href).toBe(REDIRECT)
    expect(screen.getByTestId('profile').textContent).toContain('authenticated as Ada')
  })

  it('reports a failed login once to onError, or to the nearest error boundary', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {})
    const op = fakeProvider()
    const auth = openTab(op)
    await auth.ready()
    history.replaceState(null, '', `${REDIRECT}?code=forged&state=unknown&iss=https%3A%2F%2Fop.example`)
    const onError = vi.fn()
    const first = render(
      <StrictMode>
        <AuthProvider client={auth}>
          <AuthCallback onError={onError} />
        </AuthProvider>
      </StrictMode>,
    )
    await waitFor(() => expect(onError).toHaveBeenCalled())
    expect(onError).toHaveBeenCalledTimes(1)
    expect(onError.mock.calls[0][0]).toMatchObject({ code: 'state_mismatch' })
    first.unmount()

    history.replaceState(null, '', `${REDIRECT}?code=forged-2&state=unknown-2`)
    render(
      <Boundary>
        <AuthProvider client={auth}>
          <AuthCallback />
        </AuthProvider>
      </Boundary>,
    )
    expect(await screen.findByText(/^caught state_mismatch/)).toBeTruthy()
    expect(op.requests('/token')).toHaveLength(0)
  })
})

class Boundary extends Component<{ children: ReactNode }, { error?: AuthError }> {
  override state: { error?: AuthError } = {}
  static getDerivedStateFromError(error: AuthError) {
    return { error }
  }
  override render() {
    return this.state.error ? <p>caught {this.state.error.code}</p> : this.props.children
  }
}

function Secret() {
  const { user } = useAuth()
  return <p>secret of {String(user?.name)}</p>
}
const GuardedSecret = withAuthenticationRequired(Secret, { fallback: <p>wrapped: signing in…</p> })

describe('RequireAuth and withAuthenticationRequired', () => {
  it('start exactly one login when signed out (StrictMode, two guards), returning to the current path', async () => {
    const op = fakeProvider()
    const auth = openTab(op)
    history.replaceState(null, '', '/orders?id=7#top')
    const assign = vi.spyOn(window.location, 'assign').mockImplementation(() => {})
    render(
      <StrictMode>
        <AuthProvider client={auth}>
          <RequireAuth fallback={<p>signing in…</p>}>
            <Secret />
          </RequireAuth>
          <GuardedSecret />
        </AuthProvider>
      </StrictMode>,
    )
    expect(screen.getByText('signing in…')).toBeTruthy()
    await waitFor(() => expect(assign).toHaveBeenCalled())
    // Give a second login every chance to happen: discovery is cached, so it would be a few ticks away.
    await act(() => new Promise((resolve) => setTimeout(resolve, 100)))
    expect(assign).toHaveBeenCalledTimes(1)
    expect(screen.getByText('wrapped: signing in…')).toBeTruthy()

    const result = await act(() => auth.handleRedirect(op.authorize(String(assign.mock.calls[0][0]))))
    expect(result).toEqual({ returnTo: '/orders?id=7#top' })
    expect(screen.getAllByText('secret of Ada')).toHaveLength(2)
  })

  it('render the children at once for a signed-in session, and start no login after a logout', async () => {
    const op = fakeProvider()
    const auth = openTab(op)
    await logIn(auth, op)
    const assign = vi.spyOn(window.location, 'assign').mockImplementation(() => {})
    render(
      <AuthProvider client={auth}>
        <RequireAuth fallback={<p>signed out</p>}>
          <Secret />
        </RequireAuth>
      </AuthProvider>,
    )
    await screen.findByText('secret of Ada')
    await act(() => auth.logout())
    expect(screen.getByText('signed out')).toBeTruthy()
    await act(() => new Promise((resolve) => setTimeout(resolve, 100)))
    expect(assign).not.toHaveBeenCalled()
  })

  it('start a login when the session expires while mounted', async () => {
    // No refresh token: the session ends when the access token expires (1 s).
    const op = fakeProvider({ expiresIn: 1, tamper: { body: ({ refresh_token: _, ...body }) => body } })
    const auth = openTab(op)
    await logIn(auth, op)
    const assign = vi.spyOn(window.location, 'assign').mockImplementation(() => {})
    render(
      <AuthProvider client={auth}>
        <RequireAuth fallback={<p>signing in again…</p>}>
          <Secret />
        </RequireAuth>
      </AuthProvider>,
    )
    await screen.findByText('secret of Ada')
    await waitFor(() => expect(assign).toHaveBeenCalledTimes(1), { timeout: 5000 })
    expect(screen.getByText('signing in again…')).toBeTruthy()
  })
})

describe('server rendering', () => {
  it('renders the loading state from the server snapshot, whatever the client knows, and starts nothing', async () => {
    const op = fakeProvider()
    const auth = openTab(op)
    await logIn(auth, op)
    history.replaceState(null, '', op.authorize(await startLogin(auth)))
    const requests = op.fetch.mock.calls.length
    const html = renderToString(
      <AuthProvider client={auth}>
        <Profile />
        <RequireAuth fallback={<p>guard fallback</p>}>
          <Secret />
        </RequireAuth>
        <AuthCallback fallback={<p>callback fallback</p>} />
      </AuthProvider>,
    )
    expect(html).toContain('loading')
    expect(html).toContain('guard fallback')
    expect(html).toContain('callback fallback')
    expect(html).not.toContain('secret')
    expect(op.fetch.mock.calls.length).toBe(requests)
  })
})

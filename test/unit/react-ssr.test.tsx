// @vitest-environment node
// Server rendering with no window at all, as Next.js, Remix or Astro render a page: the module-level
// client is the inert one, and every component renders the `loading` state.
import { renderToString } from 'react-dom/server'
import { describe, expect, it } from 'vitest'
import { createAuth } from '../../src/index.js'
import { AuthCallback, AuthProvider, RequireAuth, useAuth, withAuthenticationRequired } from '../../src/react/index.js'

const auth = createAuth({ issuer: 'https://op.example', clientId: 'spa', redirectUri: 'https://app.example/callback' })

function Profile() {
  const { status, user } = useAuth()
  return <p>{status}{user ? ` as ${String(user.name)}` : ''}</p>
}
const Guarded = withAuthenticationRequired(Profile, { fallback: <p>wrapped fallback</p> })

describe('server rendering without a window', () => {
  it('renders the loading state and every fallback, never a crash', () => {
    expect(typeof window).toBe('undefined')
    const html = renderToString(
      <AuthProvider client={auth}>
        <Profile />
        <RequireAuth fallback={<p>guard fallback</p>}>
          <p>secret</p>
        </RequireAuth>
        <Guarded />
        <AuthCallback fallback={<p>callback fallback</p>} />
      </AuthProvider>,
    )
    expect(html).toBe('<p>loading</p><p>guard fallback</p><p>wrapped fallback</p><p>callback fallback</p>')
  })
})

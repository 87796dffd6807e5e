import type { Auth } from './client.js'
import { AuthError } from './errors.js'
import type { AuthState } from './state.js'

const LOADING: AuthState = Object.freeze({ status: 'loading' })

/**
 * The client `createAuth` returns outside a browser (server-side rendering in Next.js, Nuxt,
 * SvelteKit, Astro): a module that creates the client at its top level can be imported and rendered
 * there. `getState()` is `loading`, `subscribe` works (nothing ever changes), `ready()` never
 * settles (there is no session to read on a server); every other method rejects with
 * `AuthError('config')`.
 */
export function createInertAuth(): Auth {
  const refuse = () => Promise.reject(new AuthError('config', 'oauth-tabs runs in the browser; this server-side copy has no session'))
  return Object.freeze({
    login: refuse,
    handleRedirect: refuse,
    getAccessToken: refuse,
    fetch: refuse,
    logout: refuse,
    ready: () => new Promise<AuthState>(() => {}),
    getState: () => LOADING,
    subscribe: () => () => {},
    close() {},
  })
}

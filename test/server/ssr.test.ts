import { describe, expect, it } from 'vitest'
import { AuthError, createAuth } from '../../dist/index.js'

// Server-side rendering (Next.js, Nuxt, SvelteKit, Astro): a module that creates the client at its top
// level is imported and rendered in Node, where there is no window, location or IndexedDB.
describe('createAuth outside a browser', () => {
  const auth = createAuth({ issuer: 'https://id.example.com', clientId: 'spa', redirectUri: 'https://app.example.com/callback' })

  it('does not throw, and its state stays loading (the same object every time)', () => {
    expect(auth.getState()).toEqual({ status: 'loading' })
    expect(auth.getState()).toBe(auth.getState())
  })

  it('lets listeners subscribe and unsubscribe', () => {
    const off = auth.subscribe(() => {})
    expect(typeof off).toBe('function')
    off()
    auth.close()
  })

  it.each(['login', 'handleRedirect', 'getAccessToken', 'logout'] as const)('%s rejects with a config error saying it runs in the browser', async (name) => {
    const err = await (auth[name] as () => Promise<unknown>)().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AuthError)
    expect(err).toMatchObject({ code: 'config' })
    expect((err as Error).message).toMatch(/browser/)
  })

  it('fetch rejects the same way, sending nothing', async () => {
    await expect(auth.fetch('https://api.example.com/me')).rejects.toMatchObject({ code: 'config' })
  })

  it('ready() never rejects (it stays pending: a server has no session to read)', async () => {
    const outcome = await Promise.race([auth.ready().then(() => 'settled', () => 'rejected'), new Promise((r) => setTimeout(r, 50, 'pending'))])
    expect(outcome).toBe('pending')
  })
})

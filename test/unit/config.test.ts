import { describe, expect, it } from 'vitest'
import { AuthError, createAuth, type AuthOptions } from '../../src/index.js'

const valid: AuthOptions = { issuer: 'https://op.example', clientId: 'spa', redirectUri: 'https://app.example/callback' }

function configError(options: Partial<AuthOptions> & Record<string, unknown>): AuthError {
  try {
    createAuth({ ...valid, ...options } as AuthOptions).close()
  } catch (err) {
    expect(err).toBeInstanceOf(AuthError)
    expect((err as AuthError).code).toBe('config')
    return err as AuthError
  }
  throw new Error('expected a config error')
}

describe('createAuth options', () => {
  it('accepts a minimal valid configuration', () => {
    const auth = createAuth(valid)
    expect(auth.getState().status).toBe('loading')
    auth.close()
  })

  it.each([
    ['http://op.example', 'issuer'],
    ['ftp://op.example', 'issuer'],
    ['op.example', 'issuer'],
    ['', 'issuer'],
    ['https://op.example/?tenant=1', 'issuer'],
    ['https://op.example/#x', 'issuer'],
  ])('refuses the issuer %j, naming the option', (issuer, option) => {
    expect(configError({ issuer }).message).toContain(`options.${option}`)
  })

  it.each(['http://localhost:3000', 'http://127.0.0.1:9000', 'http://[::1]:8080'])('allows http on the loopback host %s', (issuer) => {
    createAuth({ ...valid, issuer, redirectUri: `${issuer}/cb` }).close()
  })

  it.each(['/callback', 'callback', 'http://app.example/callback', 'https://app.example/cb#frag'])('refuses the redirectUri %j', (redirectUri) => {
    expect(configError({ redirectUri }).message).toContain('options.redirectUri')
  })

  it.each(['https://api.example/', 'https://api.example/v1', 'https://*.example', '*', 'api.example', 'ftp://api.example'])(
    'refuses the API origin %j',
    (origin) => {
      expect(configError({ apiOrigins: [origin] }).message).toContain('options.apiOrigins')
    },
  )

  it('reports values whose toString throws without throwing a TypeError (found by fast-check)', () => {
    const hostile = { toString: 1 } as never
    expect(configError({ issuer: hostile }).message).toContain('got object')
    expect(configError({ apiOrigins: [hostile] }).message).toContain('got object')
  })

  it('refuses a client secret: it would be public in a browser', () => {
    expect(configError({ clientSecret: 's3cr3t' }).message).toMatch(/options\.clientSecret.*token proxy/)
  })

  it.each([
    [{ clientId: '' }, 'clientId'],
    [{ scope: 'openid  profile' }, 'scope'],
    [{ scope: 'a"b' }, 'scope'],
    [{ refreshSkew: -1 }, 'refreshSkew'],
    [{ refreshSkew: Number.NaN }, 'refreshSkew'],
    [{ name: 'a b' }, 'name'],
    [{ storage: 'localStorage' as never }, 'storage'],
    [{ lockTimeout: 0 }, 'lockTimeout'],
    [{ postLogoutRedirectUri: 'http://evil.example/' }, 'postLogoutRedirectUri'],
    [{ authorizationParams: { prompt: 1 as never } }, 'authorizationParams'],
  ])('refuses %j', (options, option) => {
    expect(configError(options).message).toContain(`options.${option}`)
  })

  it('defaults apiOrigins to the page origin', async () => {
    // Shown by the fetch wrapper attaching the token to a relative URL: see fetch.test.ts.
    expect(() => createAuth(valid).close()).not.toThrow()
  })
})

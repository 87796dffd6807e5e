import { readFileSync, readdirSync } from 'node:fs'
import { beforeAll, describe, expect, it } from 'vitest'
import { fakeProvider, installFakeLocks, logIn, openTab } from './helpers.js'

// Checks over what ships: the browser entry of dist/ (built by test/build-setup.ts).
describe('the shipped browser code', () => {
  let code = ''
  let types = ''
  beforeAll(() => {
    const files = readdirSync('dist').filter((f) => !f.includes('/'))
    code = files.filter((f) => f.endsWith('.js')).map((f) => readFileSync(`dist/${f}`, 'utf8')).join('\n')
    types = files.filter((f) => f.endsWith('.d.ts')).map((f) => readFileSync(`dist/${f}`, 'utf8')).join('\n')
  })

  it('never writes cookies or localStorage (RFC 10017 §8.1); sessionStorage only for the pending login', () => {
    expect(code).not.toMatch(/document\.cookie|localStorage/)
    const users = readdirSync('dist').filter((f) => f.endsWith('.js') && readFileSync(`dist/${f}`, 'utf8').includes('sessionStorage'))
    expect(users).toEqual(['pending.js'])
  })

  it('has no client secret option in its types (RFC 10017 §6.3.3.1)', () => {
    expect(types).not.toMatch(/clientSecret\??:|client_secret\??:/)
  })

  it('imports nothing of the server entry', () => {
    expect(code).not.toMatch(/from '\.\/server|node:/)
  })

  it('asks the provider with cache: no-store (RFC 6749 §5.1)', async () => {
    installFakeLocks()
    const op = fakeProvider()
    await logIn(openTab(op), op)
    const inits = op.fetch.mock.calls.map(([, init]) => init as RequestInit | undefined)
    expect(inits.length).toBeGreaterThan(0)
    expect(inits.every((init) => init?.cache === 'no-store')).toBe(true)
  })
})

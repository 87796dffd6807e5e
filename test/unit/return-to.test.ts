import fc from 'fast-check'
import { beforeEach, describe, expect, it } from 'vitest'
import { AuthError } from '../../src/index.js'
import { safeReturnTo, storedReturnTo } from '../../src/return-to.js'
import { APP, fakeProvider, installFakeLocks, openTab, startLogin } from './helpers.js'

// Issue F, "open redirect through returnTo": what login() records and handleRedirect() returns
// must be a path that, used as a URL (location.assign), stays on this origin.

beforeEach(() => {
  installFakeLocks()
})

const PAGE = `${APP}/start?x=1`

/** Where an app that does `location.assign(returnTo)` on PAGE ends up. */
const landsOn = (returnTo: string, page = PAGE) => new URL(returnTo, page).origin

describe('safeReturnTo: an explicit returnTo', () => {
  it.each([
    ['/inbox?folder=2#top', '/inbox?folder=2#top'],
    [`${APP}/inbox`, '/inbox'],
    ['inbox', '/inbox'],
    ['../a/./b', '/a/b'],
    ['/%2F%2Fevil.example', '/%2F%2Fevil.example'],
    ['?page=2', '/start?page=2'],
    // Same special scheme as the page: a relative reference (WHATWG URL), so it stays here.
    ['https:evil.example', '/evil.example'],
  ])('%s -> %s', (given, expected) => {
    expect(safeReturnTo(given, PAGE)).toBe(expected)
  })

  it.each([
    '/.//evil.example/x',
    '/..//evil.example/x',
    '/a/..//evil.example/x',
    '//evil.example/x',
    '/\\evil.example/x',
    '\\\\evil.example/x',
    '/\t/evil.example/x',
    '/\n/evil.example',
    ' //evil.example',
    'https://evil.example/x',
    'http://app.example/x',
    'https://app.example:444/x',
    'https://app.example@evil.example/',
    'javascript:alert(1)',
    'data:text/html,<script>alert(1)</script>',
    'blob:https://app.example/0d3c5e1a-9f2b-4a7c-8e21-5b7f0c9d1e42',
    '/x\u0000',
    '/x?a=\\b',
    'https://[::1',
  ])('%j is refused with AuthError config', (given) => {
    expect(() => safeReturnTo(given, PAGE)).toThrow(expect.objectContaining({ name: 'AuthError', code: 'config' }))
  })

  it('a non-string is refused', () => {
    expect(() => safeReturnTo(42 as unknown as string, PAGE)).toThrow(AuthError)
  })
})

describe('safeReturnTo: the default, from the page URL', () => {
  it.each([
    [`${APP}/start?x=1#h`, '/start?x=1#h'],
    [`${APP}//evil.example/x`, '/evil.example/x'],
    [`${APP}///evil.example/x?q#f`, '/evil.example/x?q#f'],
    [`${APP}/\\evil.example/x`, '/evil.example/x'],
    [`${APP}/x?a=\\b#c\\d`, '/x?a=%5Cb#c%5Cd'],
  ])('page %s -> %s', (page, expected) => {
    const path = safeReturnTo(undefined, page)
    expect(path).toBe(expected)
    expect(landsOn(path, page)).toBe(APP)
  })
})

describe('storedReturnTo: the value read back from storage is checked again', () => {
  it.each(['//evil.example/x', '/\\evil.example', 'https://evil.example/', '/x\n', 42, null, undefined, { toString: () => '/x' }])('%j -> /', (stored) => {
    expect(storedReturnTo(stored, PAGE)).toBe('/')
  })
  it('a safe path is kept', () => {
    expect(storedReturnTo('/inbox?folder=2#top', PAGE)).toBe('/inbox?folder=2#top')
  })
})

/** Hostile strings: random text, plus pieces browsers treat specially, glued together. */
const hostile = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc
    .array(
      fc.constantFrom(
        '/', '//', '\\', '/\\', '\\/', '.', '..', '/./', '/../', '\t', '\n', '\r', '\u0000', '\u001f', '\u007f', ' ', '\u00a0', '\u3002', '\uff0f', '\uff3c',
        '@', ':', '?', '#', '%', '%2F', '%5C', '%2e', 'evil.example', 'app.example', 'https:', 'http:', 'javascript:', 'data:', 'blob:', 'HTTPS://', '[::1]', 'x',
      ),
      { maxLength: 12 },
    )
    .map((parts) => parts.join('')),
)

describe('property: whatever the input, the result stays on the origin', () => {
  it('explicit returnTo: a config error, or a path that resolves to this origin', () => {
    fc.assert(
      fc.property(hostile, (given) => {
        let path: string
        try {
          path = safeReturnTo(given, PAGE)
        } catch (err) {
          return err instanceof AuthError && err.code === 'config'
        }
        return /^\/(?![/\\])[\x21-\x7e]*$/.test(path) && !path.includes('\\') && landsOn(path) === APP
      }),
      { numRuns: 3000 },
    )
  })

  it('default returnTo from any page URL of this origin: a path that resolves to this origin', () => {
    fc.assert(
      fc.property(hostile, (suffix) => {
        let page: string
        try {
          page = new URL(`/${suffix}`, APP).href
        } catch {
          return true
        }
        if (new URL(page).origin !== APP) return true // not a page of this origin
        const path = safeReturnTo(undefined, page)
        return /^\/(?![/\\])[\x21-\x7e]*$/.test(path) && !path.includes('\\') && landsOn(path, page) === APP
      }),
      { numRuns: 3000 },
    )
  })
})

describe('login() and handleRedirect() with a hostile returnTo', () => {
  it("login({ returnTo: '/.//evil.example/x' }) is refused before anything is recorded or navigated", async () => {
    const op = fakeProvider()
    const auth = openTab(op)
    await expect(startLogin(auth, { returnTo: '/.//evil.example/x' })).rejects.toMatchObject({ name: 'AuthError', code: 'config' })
  })

  it('a login started on a page whose path starts with // returns to a path on this origin', async () => {
    const op = fakeProvider()
    const auth = openTab(op)
    const happyDOM = (window as unknown as { happyDOM: { setURL(url: string): void } }).happyDOM
    happyDOM.setURL(`${APP}//evil.example/x`)
    try {
      expect(location.pathname).toBe('//evil.example/x')
      const authorizeUrl = await startLogin(auth)
      const result = await auth.handleRedirect(op.authorize(authorizeUrl))
      expect(result?.returnTo).toBe('/evil.example/x')
      expect(landsOn(result!.returnTo, location.href)).toBe(APP)
    } finally {
      happyDOM.setURL(PAGE)
    }
  })
})

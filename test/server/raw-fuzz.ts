// Raw HTTP/1.1 probes over node:net for the token proxy's Node mount: methods, request targets,
// header and body shapes that no well-behaved client sends. Bounded: a fixed list plus a seeded
// random sample, each probe waits at most PROBE_MS for an answer.
import { connect } from 'node:net'
import fc from 'fast-check'

export interface Probe {
  name: string
  bytes: Buffer
  /** The client goes away mid-request: no answer expected, only a live server afterwards. */
  abort?: boolean
  /** A status the probe must get, where one is certain. */
  status?: number
}

const PROBE_MS = 3000
const ORIGIN = 'https://app.example'
const FORM = 'grant_type=refresh_token&refresh_token=rt'

const raw = (s: string) => Buffer.from(s, 'latin1')
const request = (method: string, target: string, headers: string[] = [], body = '') =>
  raw(`${method} ${target} HTTP/1.1\r\nhost: 127.0.0.1\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n${body}`)
const form = (body: string, extra: string[] = []) =>
  request('POST', '/oauth/token', [`origin: ${ORIGIN}`, 'content-type: application/x-www-form-urlencoded', `content-length: ${Buffer.byteLength(body, 'latin1')}`, ...extra], body)

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK', 'SEARCH', 'M-SEARCH', 'NOTIFY', 'PURGE', 'LINK', 'REPORT', 'ACL', 'QUERY', 'FOO', 'post', 'G\u00c9T']
const TARGETS = [
  '/oauth/token', '/oauth/revoke', '*', '//x', '//x/oauth/token', '//[', '//%/', 'http://evil/oauth/token', 'https://evil.example:443/oauth/token?x=1',
  'http://[::1', 'http://a:b@evil/oauth/token', 'evil.example:443', '/oauth/token?x=%zz&%%%', '/%zz%', '/oauth/%00token', '/oauth/token%0d%0aX-Injected:%201',
  '/oauth/token#frag', '/..%2f..%2fetc/passwd', '/oauth/\u00ff\u00fe', '/oauth/token?' + 'a'.repeat(6000), '/' + 'a'.repeat(20_000), '', ' /oauth/token', '/oauth/token\t',
]

/** The fixed list: every method on the token path, every odd target, then header and body shapes. */
export function fixedProbes(): Probe[] {
  const probes: Probe[] = []
  for (const method of METHODS) probes.push({ name: `method ${method}`, bytes: request(method, '/oauth/token', [`origin: ${ORIGIN}`, 'content-length: 0']) })
  probes[METHODS.indexOf('TRACE')].status = 405
  for (const target of TARGETS) probes.push({ name: `target ${JSON.stringify(target.slice(0, 40))}`, bytes: request('POST', target, [`origin: ${ORIGIN}`, 'content-type: application/x-www-form-urlencoded', 'content-length: 0']) })
  probes.push(
    { name: 'no content-length, body bytes', bytes: request('POST', '/oauth/token', [`origin: ${ORIGIN}`, 'content-type: application/x-www-form-urlencoded'], FORM) },
    { name: 'chunked form', bytes: request('POST', '/oauth/token', [`origin: ${ORIGIN}`, 'content-type: application/x-www-form-urlencoded', 'transfer-encoding: chunked'], `${FORM.length.toString(16)}\r\n${FORM}\r\n0\r\n\r\n`) },
    { name: 'chunked, bad chunk size', bytes: request('POST', '/oauth/token', [`origin: ${ORIGIN}`, 'content-type: application/x-www-form-urlencoded', 'transfer-encoding: chunked'], 'zz\r\nabc\r\n0\r\n\r\n') },
    { name: 'chunked, 200 KiB', bytes: request('POST', '/oauth/token', [`origin: ${ORIGIN}`, 'content-type: application/x-www-form-urlencoded', 'transfer-encoding: chunked'], `${(200 * 1024).toString(16)}\r\n${'x'.repeat(200 * 1024)}\r\n0\r\n\r\n`), status: 413 },
    { name: 'content-length and transfer-encoding', bytes: request('POST', '/oauth/token', [`origin: ${ORIGIN}`, 'content-length: 5', 'transfer-encoding: chunked'], '0\r\n\r\n') },
    { name: 'two different content-lengths', bytes: request('POST', '/oauth/token', [`origin: ${ORIGIN}`, 'content-length: 3', 'content-length: 4'], 'abcd') },
    { name: 'content-length not a number', bytes: request('POST', '/oauth/token', [`origin: ${ORIGIN}`, 'content-length: abc'], 'abc') },
    { name: 'content-length 1e9, short body, then waits', bytes: form('x', ['content-length: 1000000000']).subarray(0, -1) },
    { name: 'invalid JSON body', bytes: request('POST', '/oauth/token', [`origin: ${ORIGIN}`, 'content-type: application/json', 'content-length: 9'], '{"a":1,,}'), status: 415 },
    { name: 'duplicated origin', bytes: form(FORM, [`origin: https://evil.example`]), status: 403 },
    { name: 'duplicated content-type', bytes: form(FORM, ['content-type: text/plain']) },
    { name: 'control characters in grant_type', bytes: form('grant_type=%0d%0aFAKE%20LOG%1b[31m&x=1'), status: 400 },
    { name: 'control characters in a parameter name', bytes: form('a%0d%0aFAKE=1&a%0d%0aFAKE=2'), status: 400 },
    { name: 'percent garbage body', bytes: form('%%%zz=%ff%fe&=&&=='), status: 400 },
    { name: 'binary body', bytes: form('\u0000\u00ff\u0001=\u0002') },
    { name: 'obs-text header value', bytes: form(FORM, ['x-odd: \u00e9\u00ff']) },
    { name: 'header without colon', bytes: raw(`POST /oauth/token HTTP/1.1\r\nhost: x\r\nno-colon-here\r\n\r\n`) },
    { name: '200 headers', bytes: form(FORM, Array.from({ length: 200 }, (_, i) => `x-h${i}: ${i}`)) },
    { name: 'one 20 KB header', bytes: form(FORM, [`x-big: ${'a'.repeat(20_000)}`]) },
    { name: 'expect: 100-continue', bytes: form(FORM, ['expect: 100-continue']) },
    { name: 'upgrade: websocket', bytes: form(FORM, ['connection: upgrade', 'upgrade: websocket']) },
    { name: 'HTTP/1.0, no host', bytes: raw(`POST /oauth/token HTTP/1.0\r\norigin: ${ORIGIN}\r\ncontent-length: 0\r\n\r\n`) },
    { name: 'HTTP/9.9', bytes: raw(`POST /oauth/token HTTP/9.9\r\nhost: x\r\n\r\n`) },
    { name: 'bare LF line ends', bytes: raw(`POST /oauth/token HTTP/1.1\nhost: x\norigin: ${ORIGIN}\ncontent-length: 0\n\n`) },
    { name: 'NUL in the request line', bytes: raw(`POST /oauth/\u0000token HTTP/1.1\r\nhost: x\r\n\r\n`) },
    { name: 'a DPoP header that is no JWS', bytes: form(FORM, ['dpop: not a proof']), status: 400 },
    { name: 'pipelined: 3 requests', bytes: Buffer.concat([form(FORM), request('TRACE', '/oauth/token'), request('OPTIONS', '/oauth/token', [`origin: ${ORIGIN}`])]) },
    { name: 'aborted mid-body', bytes: form('grant_type=refresh_token&refresh_token=', ['content-length: 5000']), abort: true },
    { name: 'aborted mid-headers', bytes: raw(`POST /oauth/token HTTP/1.1\r\nhost: x\r\norigin: ${ORIGIN}\r\n`), abort: true },
    { name: 'aborted mid-chunk', bytes: request('POST', '/oauth/token', [`origin: ${ORIGIN}`, 'content-type: application/x-www-form-urlencoded', 'transfer-encoding: chunked'], '100\r\nabc'), abort: true },
  )
  return probes
}

/** A seeded random sample of methods, targets and header values built from hostile characters. */
export function randomProbes(count: number, seed = 20240611): Probe[] {
  const hostile = fc.constantFrom(...'/%?#[]@:*\\.-_~!$&\'()+,;= \t\u00ff\u00e9aZ09'.split(''))
  const target = fc.oneof(
    fc.array(hostile, { maxLength: 60 }).map((cs) => `/${cs.join('')}`),
    fc.array(hostile, { maxLength: 60 }).map((cs) => cs.join('')),
    fc.array(hostile, { maxLength: 40 }).map((cs) => `http://${cs.join('')}/oauth/token`),
  )
  const method = fc.oneof(fc.constantFrom(...METHODS), fc.stringMatching(/^[A-Z-]{1,12}$/))
  const header = fc.tuple(fc.constantFrom('origin', 'content-type', 'content-length', 'transfer-encoding', 'dpop', 'x-forwarded-for', 'cookie', 'authorization'), fc.array(hostile, { maxLength: 40 }).map((cs) => cs.join('')))
  const body = fc.array(fc.oneof(hostile, fc.constantFrom('grant_type', 'refresh_token', 'code', 'client_id', '%0d%0a', '%00', '\u001b')), { maxLength: 40 }).map((cs) => cs.join(''))
  return fc.sample(fc.tuple(method, target, fc.array(header, { maxLength: 4 }), body), { numRuns: count, seed }).map(([m, t, hs, b], i) => ({
    name: `random ${i}: ${JSON.stringify(`${m} ${t}`.slice(0, 60))}`,
    bytes: request(m, t, [`origin: ${ORIGIN}`, ...hs.map(([n, v]) => `${n}: ${v}`), `content-length: ${Buffer.byteLength(b, 'latin1')}`].filter((h, j, all) => !(h.startsWith('content-length') && all.findIndex((x) => x.startsWith('content-length')) !== j)), b),
  }))
}

/** Sends one probe; resolves with the first status line's code, or undefined if none came. */
export function send(port: number, probe: Probe): Promise<{ status?: number; text: string }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    let text = ''
    const done = () => {
      clearTimeout(timer)
      socket.destroy()
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(text)
      resolve({ status: match ? Number(match[1]) : undefined, text })
    }
    const timer = setTimeout(done, probe.abort ? 200 : PROBE_MS)
    socket.on('error', done)
    socket.on('close', done)
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1')
      // One full answer is enough (pipelined probes wait for their last one or the timeout).
      if (!probe.name.startsWith('pipelined') && /\r\n\r\n/.test(text)) setTimeout(done, 20)
    })
    socket.on('connect', () => {
      socket.write(probe.bytes)
      if (probe.abort) setTimeout(() => socket.destroy(), 50)
    })
  })
}

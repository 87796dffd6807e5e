import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FetchHandler } from './proxy.js'

/**
 * A Node / connect / Express middleware: `(req, res, next?) => void`.
 * @example
 * ```ts
 * import { toNodeHandler, type NodeHandler } from 'oauth-tabs/server'
 *
 * const middleware: NodeHandler = toNodeHandler(proxy)
 * app.use('/api/oauth', middleware)
 * ```
 */
export type NodeHandler = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void

/**
 * Options of {@link toNodeHandler}.
 * @example
 * ```ts
 * import type { NodeHandlerOptions } from 'oauth-tabs/server'
 *
 * const seen = new Map<string, number>()
 * const options: NodeHandlerOptions = { limit: (ip) => (seen.set(ip, (seen.get(ip) ?? 0) + 1).get(ip) ?? 0) <= 60 }
 * ```
 */
export interface NodeHandlerOptions {
  /**
   * Called first for every request with the peer's IP address (`req.socket.remoteAddress`) and
   * the request; return `false` to answer `429` at once without calling the handler. Behind a
   * reverse proxy the peer is the reverse proxy: read a forwarded address from `req` only if
   * that proxy sets it, and better limit there. A limiter that throws is treated as `false`.
   */
  limit?: (ip: string, req: IncomingMessage) => boolean
}

const BASE = 'http://proxy.invalid'
/** Methods `new Request` refuses (Fetch's forbidden methods); they can never reach a fetch handler. */
const FORBIDDEN = new Set(['CONNECT', 'TRACE', 'TRACK'])

/** Thrown inside the adapter for a request it cannot turn into a `Request`: becomes `status`. */
class Refusal {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
  ) {}
}

/**
 * Mounts a web-standard handler (such as {@link createTokenProxy}'s) on `node:http`, connect,
 * Express or vite. The request URL's host is never used for anything but routing, so forged
 * `Host` / `X-Forwarded-*` headers change nothing upstream (RFC 9700 §4.13).
 *
 * Every request gets an HTTP answer and the process keeps running, however malformed the
 * request: a method `fetch` cannot represent (`TRACE`, `TRACK`) gets 405, a request target that is
 * not a path (`*`, an unparsable absolute form) 400, a handler that throws or rejects 500 (or
 * `next(err)` under Express). `CONNECT` and requests Node's parser rejects never reach a request
 * listener: Node closes those connections itself (and answers 400/431 to parse errors).
 *
 * A body that a framework has already read (`express.urlencoded()`, `express.text()`,
 * `express.raw()` mounted before this handler) is taken from `req.body` when it is a string, a
 * Buffer, or a plain object of string (or string array) values, re-encoded as a form; any other
 * shape gets an immediate 500 JSON `server_error` naming the fix (mount this handler before the
 * body parser). It never waits for a stream that has already ended.
 *
 * @param handler - the fetch handler to run
 * @param options - an optional per-IP limiter
 * @example
 * ```ts
 * import { createServer } from 'node:http'
 * import { toNodeHandler } from 'oauth-tabs/server'
 *
 * createServer(toNodeHandler(proxy)).listen(8787)
 * // Express: app.use('/api/oauth', toNodeHandler(proxy))
 * ```
 */
export function toNodeHandler(handler: FetchHandler, options: NodeHandlerOptions = {}): NodeHandler {
  return (req, res, next) => {
    let request: Request
    try {
      if (options.limit && !allowed(options.limit, req)) throw new Refusal(429, 'temporarily_unavailable', 'Too many requests')
      request = toRequest(req)
    } catch (err) {
      const refusal = err instanceof Refusal ? err : new Refusal(400, 'invalid_request', 'Malformed request')
      answer(res, refusal.status, { error: refusal.error, error_description: refusal.description }, refusal.status === 405 ? { allow: 'POST, OPTIONS' } : {})
      drain(req)
      return
    }
    Promise.resolve()
      .then(() => handler(request))
      .then(async (response) => {
        const body = Buffer.from(await response.arrayBuffer())
        if (res.headersSent || res.destroyed) return
        res.statusCode = response.status
        response.headers.forEach((value, name) => res.setHeader(name, value))
        res.end(body)
      })
      .catch((err: unknown) => {
        if (next) next(err)
        else if (!res.headersSent) answer(res, 500, { error: 'server_error', error_description: 'Internal error' })
      })
      .finally(() => drain(req))
  }
}

function allowed(limit: NonNullable<NodeHandlerOptions['limit']>, req: IncomingMessage): boolean {
  try {
    return limit(req.socket?.remoteAddress ?? '', req) !== false
  } catch {
    return false
  }
}

function answer(res: ServerResponse, status: number, body: Record<string, string>, extra: Record<string, string> = {}) {
  if (res.headersSent || res.destroyed) return
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...extra })
  res.end(JSON.stringify(body))
}

/** Discards what is left of a request body the handler did not read, so keep-alive goes on. */
function drain(req: IncomingMessage) {
  if (req.readableEnded || req.destroyed) return
  req.removeAllListeners('data')
  req.resume()
}

/**
 * The path and query of a request target (RFC 9112 §3.2): origin form as is (`//x` is a path),
 * absolute form reduced to its path. Anything else (`*`, authority form) is refused.
 */
function pathOf(target: string): string {
  if (target.startsWith('/')) return target
  if (/^https?:\/\//i.test(target)) {
    const url = new URL(target)
    return `${url.pathname}${url.search}`
  }
  throw new Refusal(400, 'invalid_request', 'The request target must be a path')
}

function toRequest(req: IncomingMessage): Request {
  const method = req.method ?? 'GET'
  if (FORBIDDEN.has(method.toUpperCase())) throw new Refusal(405, 'invalid_request', `Method ${method} not allowed`)
  const url = new URL(`${BASE}${pathOf((req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '/')}`)
  const headers = new Headers()
  for (const [name, value] of Object.entries(req.headers)) {
    if (typeof value === 'string') headers.set(name, value)
    else if (Array.isArray(value)) for (const v of value) headers.append(name, v)
  }
  let body: BodyInit | undefined
  if (method !== 'GET' && method !== 'HEAD') {
    const parsed = alreadyRead(req)
    if (parsed === undefined) body = bodyOf(req)
    else {
      headers.delete('content-length')
      headers.delete('transfer-encoding')
      body = parsed
    }
  }
  return new Request(url, { method, headers, body, duplex: 'half' } as RequestInit)
}

/**
 * The body a framework has already consumed, re-encoded; `undefined` when the stream is still
 * unread (the usual case). Throws a 500 {@link Refusal} for a consumed body of another shape.
 */
function alreadyRead(req: IncomingMessage): string | Uint8Array<ArrayBuffer> | undefined {
  const consumed = req.readableEnded || (req as { _body?: unknown })._body === true
  if (!consumed) return undefined
  const parsed = (req as { body?: unknown }).body
  if (parsed === undefined || parsed === null) return ''
  if (typeof parsed === 'string') return parsed
  if (parsed instanceof Uint8Array) return new Uint8Array(parsed)
  const proto = typeof parsed === 'object' ? Object.getPrototypeOf(parsed) : undefined
  if (proto === Object.prototype || proto === null) {
    const form = new URLSearchParams()
    const entries = Object.entries(parsed as Record<string, unknown>)
    if (entries.every(([, v]) => typeof v === 'string' || (Array.isArray(v) && v.every((s) => typeof s === 'string')))) {
      for (const [name, value] of entries) for (const v of [value].flat() as string[]) form.append(name, v)
      return form.toString()
    }
  }
  throw new Refusal(500, 'server_error', 'The request body was already read by another middleware into a shape that cannot be forwarded; mount the token proxy before body parsers (express.json(), express.urlencoded())')
}

/**
 * The request body as a web stream with backpressure. Cancelling it (a body over the limit)
 * drains and discards the rest instead of destroying the socket, so the 413 still gets out.
 * A client that goes away mid-body errors the stream; nothing is ever enqueued or closed twice.
 */
function bodyOf(req: IncomingMessage): ReadableStream<Uint8Array> {
  let settled = false
  return new ReadableStream<Uint8Array>({
    start(controller) {
      const finish = (err?: unknown) => {
        if (settled) return
        settled = true
        if (err) controller.error(err)
        else controller.close()
      }
      req.on('data', (chunk: Buffer) => {
        if (settled) return
        controller.enqueue(new Uint8Array(chunk))
        if ((controller.desiredSize ?? 1) <= 0) req.pause()
      })
      req.on('end', () => finish())
      req.on('error', (err) => finish(err))
      req.on('close', () => finish(req.readableEnded ? undefined : new Error('The client closed the connection before the body ended')))
    },
    pull() {
      req.resume()
    },
    cancel() {
      settled = true
      req.removeAllListeners('data')
      req.resume()
    },
  })
}

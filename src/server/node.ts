import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FetchHandler } from './proxy.js'

/** A Node / connect / Express middleware: `(req, res, next?) => void`. */
export type NodeHandler = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void

/**
 * Mounts a web-standard handler (such as {@link createTokenProxy}'s) on `node:http`, connect,
 * Express or vite. The request URL's host is never used for anything but routing, so forged
 * `Host` / `X-Forwarded-*` headers change nothing upstream (RFC 9700 §4.13).
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http'
 * import { toNodeHandler } from 'oauth-tabs/server'
 *
 * createServer(toNodeHandler(proxy)).listen(8787)
 * // Express: app.use('/api/oauth', toNodeHandler(proxy))
 * ```
 */
export function toNodeHandler(handler: FetchHandler): NodeHandler {
  return (req, res, next) => {
    const url = new URL((req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '/', 'http://proxy.invalid')
    const headers = new Headers()
    for (const [name, value] of Object.entries(req.headers)) {
      if (typeof value === 'string') headers.set(name, value)
      else if (Array.isArray(value)) for (const v of value) headers.append(name, v)
    }
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD'
    const request = new Request(url, {
      method: req.method,
      headers,
      body: hasBody ? bodyOf(req) : undefined,
      duplex: 'half',
    } as RequestInit)
    handler(request)
      .then(async (response) => {
        res.statusCode = response.status
        response.headers.forEach((value, name) => res.setHeader(name, value))
        res.end(Buffer.from(await response.arrayBuffer()))
      })
      .catch((err: unknown) => {
        if (next) next(err)
        else {
          res.statusCode = 500
          res.end()
        }
      })
  }
}

/**
 * The request body as a web stream with backpressure. Cancelling it (a body over the limit)
 * drains and discards the rest instead of destroying the socket, so the 413 still gets out.
 */
function bodyOf(req: IncomingMessage): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      req.on('data', (chunk: Buffer) => {
        controller.enqueue(new Uint8Array(chunk))
        if ((controller.desiredSize ?? 1) <= 0) req.pause()
      })
      req.on('end', () => controller.close())
      req.on('error', (err) => controller.error(err))
    },
    pull() {
      req.resume()
    },
    cancel() {
      req.removeAllListeners('data')
      req.resume()
    },
  })
}

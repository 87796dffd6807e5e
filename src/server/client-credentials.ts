import { randomUUID } from 'node:crypto'
import { AuthError } from '../errors.js'
import { createUpstream, type UpstreamOptions } from './upstream.js'

/**
 * The few Redis commands used, as ioredis spells them (`set(key, value, 'PX', ms, 'NX')`).
 * Pass an `ioredis` instance (an optional peer dependency) or anything with these methods.
 */
export interface RedisLike {
  get(key: string): Promise<string | null>
  set(key: string, value: string, px: 'PX', milliseconds: number): Promise<unknown>
  set(key: string, value: string, px: 'PX', milliseconds: number, nx: 'NX'): Promise<unknown>
  eval(script: string, keys: number, ...args: (string | number)[]): Promise<unknown>
}

/** Options of {@link createClientCredentials}. */
export interface ClientCredentialsOptions extends UpstreamOptions {
  /** Space-separated scopes to ask for. Default: none (the provider's default). */
  scope?: string
  /** Seconds before expiry at which a new token is fetched (at most half the lifetime). Default 60. */
  margin?: number
  /** Share tokens between server instances through Redis; one instance asks the provider at a time. */
  redis?: RedisLike
  /** Redis key of the token. Default `oauth-tabs:cc:<clientId>:<scope>`; the lock is `<key>:lock`. */
  key?: string
  /** Tries per renewal on network errors, 5xx and 429. Default 4. */
  maxTries?: number
  /** Receives operational lines (Redis down/up, retries); never a token or secret. Default: console.warn. */
  log?: (line: string) => void
}

/** A cached client_credentials token source. */
export interface ClientCredentials {
  /**
   * Resolves to a valid access token: from memory, then Redis, then the provider. However many
   * callers ask at once, one request goes upstream (per instance, or across instances with Redis).
   * Ahead of expiry the old token keeps being served while a new one is fetched.
   * @throws {@link AuthError} `config` (`invalid_client`), `server_error`, `rate_limited`, `network`
   * when no valid token is left and the provider cannot give one.
   */
  getToken(): Promise<string>
}

interface Cached {
  accessToken: string
  expiresAt: number
  refreshAt: number
}

/** Deletes the lock only if we still own it (a lock that expired may belong to another instance now). */
const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
const REDIS_TIMEOUT = 1000
const LOCK_TTL = 30_000
const MAX_WAIT = 30_000

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function withTimeout<T>(promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout>
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('Redis timed out')), REDIS_TIMEOUT))),
  ]).finally(() => clearTimeout(timer))
}

/**
 * Creates a client_credentials token source for the server's own API calls (RFC 6749 §4.4).
 * It must never run in a browser: it holds the client secret.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis'
 * import { createClientCredentials } from 'oauth-tabs/server'
 *
 * const tokens = createClientCredentials({
 *   tokenEndpoint: 'https://aip.baidubce.com/oauth/2.0/token',
 *   clientId: process.env.API_KEY!,
 *   clientSecret: process.env.SECRET_KEY!,
 *   clientAuthentication: 'client_secret_post',
 *   redis: new Redis(process.env.REDIS_URL!), // optional: share across instances
 * })
 * const response = await fetch(url, { headers: { authorization: `Bearer ${await tokens.getToken()}` } })
 * ```
 */
export function createClientCredentials(options: ClientCredentialsOptions): ClientCredentials {
  const upstream = createUpstream(options)
  const margin = (options.margin ?? 60) * 1000
  const maxTries = options.maxTries ?? 4
  const log = options.log ?? ((line: string) => console.warn(line))
  const key = options.key ?? `oauth-tabs:cc:${options.clientId}:${options.scope ?? ''}`
  const redis = options.redis
  let cached: Cached | undefined
  let flight: Promise<Cached> | undefined
  let redisDownSince: number | undefined

  const usable = (c: Cached | undefined, now = Date.now()): c is Cached => !!c && now < c.expiresAt

  /** One upstream request, retried with backoff and jitter on network errors, 5xx and 429 (honouring Retry-After). */
  async function fromProvider(): Promise<Cached> {
    const { token } = await upstream.endpoints()
    const params = new URLSearchParams({ grant_type: 'client_credentials' })
    if (options.scope) params.set('scope', options.scope)
    for (let n = 1; ; n++) {
      let error: AuthError
      let wait: number | undefined
      try {
        const answer = await upstream.post(token, params)
        const json = answer.json
        if (answer.status === 200 && typeof json?.access_token === 'string') {
          const now = Date.now()
          const lifetime = typeof json.expires_in === 'number' && json.expires_in > 0 ? json.expires_in * 1000 : 3_600_000
          return { accessToken: json.access_token, expiresAt: now + lifetime, refreshAt: now + Math.max(lifetime - margin, lifetime / 2) }
        }
        const providerError = typeof json?.error === 'string' ? json.error : undefined
        const status = answer.status
        const retryable = status === 429 || status >= 500
        error = new AuthError(
          status === 429 ? 'rate_limited' : status >= 500 ? 'server_error' : providerError === 'invalid_client' ? 'config' : 'invalid_response',
          `client_credentials refused: HTTP ${status}${providerError ? ` ${providerError}` : ''}${json ? '' : ' (not JSON)'}`,
          { status, error: providerError, error_description: typeof json?.error_description === 'string' ? json.error_description : undefined },
        )
        if (!retryable) throw error
        const retryAfter = answer.headers.get('retry-after')
        if (retryAfter) wait = Number.isFinite(Number(retryAfter)) ? Number(retryAfter) * 1000 : Date.parse(retryAfter) - Date.now()
      } catch (err) {
        if (err instanceof AuthError) {
          if (!['server_error', 'rate_limited'].includes(err.code)) throw err
          error = err
        } else {
          error = new AuthError('network', `client_credentials: provider unreachable (${(err as Error)?.name})`, { cause: err })
        }
      }
      if (n >= maxTries) throw error
      const delay = Math.min(Math.max(wait ?? Math.random() * 250 * 2 ** n, 0), MAX_WAIT)
      log(`oauth-tabs client_credentials: ${error.message}; try ${n + 1} of ${maxTries} in ${Math.round(delay)} ms`)
      await sleep(delay)
    }
  }

  const parse = (raw: string | null): Cached | undefined => {
    try {
      const value = raw ? (JSON.parse(raw) as Cached) : undefined
      return typeof value?.accessToken === 'string' && typeof value.expiresAt === 'number' ? value : undefined
    } catch {
      return undefined
    }
  }

  /** Through Redis: read; else take the lock (SET NX PX) and ask the provider; else wait for the holder's token. */
  async function viaRedis(client: RedisLike): Promise<Cached> {
    const fresh = (c: Cached | undefined): c is Cached => !!c && Date.now() < c.refreshAt
    const deadline = Date.now() + LOCK_TTL
    while (Date.now() < deadline) {
      const stored = parse(await withTimeout(client.get(key)))
      if (fresh(stored)) return stored
      const owner = randomUUID()
      if (await withTimeout(client.set(`${key}:lock`, owner, 'PX', LOCK_TTL, 'NX'))) {
        try {
          // Double check: the previous holder may have stored a token just before we locked.
          const again = parse(await withTimeout(client.get(key)))
          if (fresh(again)) return again
          const next = await fromProvider()
          await withTimeout(client.set(key, JSON.stringify(next), 'PX', Math.max(1, next.expiresAt - Date.now())))
          return next
        } finally {
          await withTimeout(client.eval(RELEASE, 1, `${key}:lock`, owner)).catch(() => {})
        }
      }
      await sleep(25 + Math.random() * 50)
    }
    // The holder neither finished nor let its lock expire: ask ourselves rather than fail.
    return fromProvider()
  }

  async function renew(): Promise<Cached> {
    if (redis && (redisDownSince === undefined || Date.now() - redisDownSince > 30_000)) {
      try {
        const result = await viaRedis(redis)
        if (redisDownSince !== undefined) log('oauth-tabs client_credentials: Redis is back; sharing tokens again')
        redisDownSince = undefined
        return result
      } catch (err) {
        if (err instanceof AuthError) throw err
        if (redisDownSince === undefined) log(`oauth-tabs client_credentials: Redis unavailable (${(err as Error)?.message}); using this instance's own cache`)
        redisDownSince = Date.now()
      }
    }
    return fromProvider()
  }

  return {
    async getToken() {
      const now = Date.now()
      if (cached && now < cached.refreshAt) return cached.accessToken
      flight ??= renew()
        .then((next) => (cached = next))
        .finally(() => (flight = undefined))
      // Ahead of expiry: serve the old token while the new one is being fetched.
      if (usable(cached, now)) {
        flight.catch((err: unknown) => log(`oauth-tabs client_credentials: renewal failed (${(err as Error)?.message}); old token still valid`))
        return cached.accessToken
      }
      return (await flight).accessToken
    },
  }
}

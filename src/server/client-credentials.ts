import { randomUUID } from 'node:crypto'
import { AuthError } from '../errors.js'
import { createUpstream, type UpstreamOptions } from './upstream.js'
import { logSafe } from './log-safe.js'

/**
 * The few Redis commands used, as ioredis spells them (`set(key, value, 'PX', ms, 'NX')`).
 * Pass an `ioredis` instance (an optional peer dependency) or anything with these methods.
 * `status` (ioredis: `'ready'` when connected), where present, lets an instance skip Redis at
 * once while it is known to be down instead of waiting for a command's timeout.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis'
 * import type { RedisLike } from 'oauth-tabs/server'
 *
 * const redis: RedisLike = new Redis('redis://127.0.0.1:6379')
 * ```
 */
export interface RedisLike {
  /** The connection's state, as ioredis reports it (`'ready'` when connected). */
  readonly status?: string
  /**
   * `GET key`: the value, or null.
   * @example
   * ```ts
   * const cached = await redis.get('oauth-tabs:cc:my-client:')
   * ```
   */
  get(key: string): Promise<string | null>
  /**
   * `SET key value PX ms`: stores with a lifetime in milliseconds.
   * @example
   * ```ts
   * await redis.set('key', 'value', 'PX', 60_000)
   * ```
   */
  set(key: string, value: string, px: 'PX', milliseconds: number): Promise<unknown>
  /** `SET key value PX ms NX`: stores only if absent (the lock); resolves to `'OK'` when it did, else null. */
  set(key: string, value: string, px: 'PX', milliseconds: number, nx: 'NX'): Promise<unknown>
  /**
   * `EVAL script numkeys ...`: runs a Lua script (used to release the lock only if still its owner).
   * @example
   * ```ts
   * await redis.eval("return redis.call('get', KEYS[1])", 1, 'key')
   * ```
   */
  eval(script: string, keys: number, ...args: (string | number)[]): Promise<unknown>
}

/**
 * Options of {@link createClientCredentials}.
 * @example
 * ```ts
 * import type { ClientCredentialsOptions } from 'oauth-tabs/server'
 *
 * const options: ClientCredentialsOptions = {
 *   issuer: 'https://id.example.com',
 *   clientId: 'reporting-service',
 *   clientSecret: process.env.CLIENT_SECRET!,
 *   scope: 'reports:read',
 *   refusalBackoff: 30,
 * }
 * ```
 */
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
  /**
   * Seconds to wait, after the provider refused in a way retrying cannot fix (`invalid_client`,
   * `unauthorized_client`, `invalid_scope`, `unsupported_grant_type`, any other 4xx but 429),
   * before asking it again; callers get the remembered error meanwhile. Doubles after each
   * refusal in a row up to `maxRefusalBackoff`, and starts over after a success. Default 30.
   */
  refusalBackoff?: number
  /** Longest wait between refused requests, in seconds. Default 600. */
  maxRefusalBackoff?: number
  /** Receives operational lines (Redis down/up, retries); never a token or secret. Default: console.warn. */
  log?: (line: string) => void
}

/**
 * A cached client_credentials token source, made by {@link createClientCredentials}.
 * @example
 * ```ts
 * import { createClientCredentials, type ClientCredentials } from 'oauth-tabs/server'
 *
 * const tokens: ClientCredentials = createClientCredentials({ tokenEndpoint: 'https://id.example.com/token', clientId: 'svc', clientSecret: 's3cret' })
 * ```
 */
export interface ClientCredentials {
  /**
   * Resolves to a valid access token: from memory, then Redis, then the provider. However many
   * callers ask at once, one request goes upstream (per instance, or across instances with Redis).
   * Ahead of expiry the old token keeps being served while a new one is fetched.
   *
   * A refusal that retrying cannot fix (a wrong secret: `invalid_client`) is remembered, in this
   * process and, with `redis`, for every instance (key `<key>:refused`, expiring with the
   * backoff): until `refusalBackoff` has passed, callers get the remembered error and nothing is
   * sent, so a misconfigured fleet sends about one request per backoff, not one per call.
   *
   * While Redis is unreachable each instance asks the provider for itself (and logs it once);
   * every later renewal tries Redis again (ioredis: as soon as its `status` is `ready`, else
   * with a 1 s timeout per command), so instances share one token again at their next renewal.
   * @throws {@link AuthError} `config` (`invalid_client`), `invalid_response`, `server_error`,
   * `rate_limited`, `network` when no valid token is left and the provider cannot give one.
   * @example
   * ```ts
   * const response = await fetch(url, { headers: { authorization: `Bearer ${await tokens.getToken()}` } })
   * ```
   */
  getToken(): Promise<string>
}

/** A refusal that retrying cannot fix, remembered until `until` (epoch ms). */
interface Refused {
  code: AuthError['code']
  message: string
  error?: string
  error_description?: string
  status?: number
  until: number
  backoff: number
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

/** Provider errors that mean the client's own configuration is wrong (RFC 6749 §5.2). */
const CONFIG_ERRORS = new Set(['invalid_client', 'unauthorized_client', 'invalid_scope', 'unsupported_grant_type'])
/** Our codes that retrying at once can fix; every other refusal is remembered for a backoff. */
const TRANSIENT = new Set(['server_error', 'rate_limited', 'network'])

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
  let redisDown = false
  let refused: Refused | undefined
  const firstBackoff = (options.refusalBackoff ?? 30) * 1000
  const maxBackoff = Math.max(firstBackoff, (options.maxRefusalBackoff ?? 600) * 1000)
  if (!(firstBackoff > 0)) throw new AuthError('config', 'options.refusalBackoff must be a positive number of seconds')

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
          // A number (or a numeric string, as some providers send), at most a day; else an hour.
          const seconds = Number(json.expires_in)
          const lifetime = Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, 86_400) * 1000 : 3_600_000
          return { accessToken: json.access_token, expiresAt: now + lifetime, refreshAt: now + Math.max(lifetime - margin, lifetime / 2) }
        }
        const providerError = typeof json?.error === 'string' ? json.error : undefined
        const status = answer.status
        const retryable = status === 429 || status >= 500
        error = new AuthError(
          status === 429 ? 'rate_limited' : status >= 500 ? 'server_error' : CONFIG_ERRORS.has(providerError ?? '') ? 'config' : 'invalid_response',
          `client_credentials refused: HTTP ${status}${providerError ? ` ${logSafe(providerError, 40)}` : ''}${json ? '' : ' (not JSON)'}`,
          // A provider that quotes its request would put the secret here (and so in Redis, for every instance).
          { status, error: providerError && upstream.redact(providerError).slice(0, 512), error_description: typeof json?.error_description === 'string' ? upstream.redact(json.error_description).slice(0, 512) : undefined },
        )
        if (!retryable) throw error
        const retryAfter = answer.headers.get('retry-after')
        if (retryAfter) wait = /^\d+$/.test(retryAfter) ? Number(retryAfter) * 1000 : Date.parse(retryAfter) - Date.now()
        if (!Number.isFinite(wait)) wait = undefined
      } catch (err) {
        if (err instanceof AuthError) {
          if (!['server_error', 'rate_limited'].includes(err.code)) throw err
          error = err
        } else {
          error = new AuthError('network', `client_credentials: provider unreachable (${logSafe((err as Error)?.name, 40)})`, { cause: err })
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
  const parseRefused = (raw: string | null): Refused | undefined => {
    try {
      const value = raw ? (JSON.parse(raw) as Refused) : undefined
      // Redis is shared: a record is believed no further than this instance's own longest backoff.
      return typeof value?.code === 'string' && typeof value.until === 'number' && typeof value.backoff === 'number' ? { ...value, until: Math.min(value.until, Date.now() + maxBackoff) } : undefined
    } catch {
      return undefined
    }
  }

  /** The error callers get while a refusal is remembered: the provider's, and when we ask again. */
  const refusedError = (r: Refused) =>
    new AuthError(r.code, `${r.message}; not asking the provider again for ${Math.max(0, Math.ceil((r.until - Date.now()) / 1000))} s (fix the configuration)`, {
      error: r.error,
      error_description: r.error_description,
      status: r.status,
    })

  /** Asks the provider, and remembers a refusal that retrying cannot fix (doubling the backoff). */
  async function ask(): Promise<Cached> {
    try {
      const next = await fromProvider()
      refused = undefined
      return next
    } catch (err) {
      if (err instanceof AuthError && !TRANSIENT.has(err.code)) {
        const backoff = refused ? Math.min(refused.backoff * 2, maxBackoff) : firstBackoff
        refused = { code: err.code, message: err.message, error: err.error, error_description: err.error_description, status: err.status, until: Date.now() + backoff, backoff }
        log(`oauth-tabs client_credentials: ${err.message}; next request to the provider in ${backoff / 1000} s`)
      }
      throw err
    }
  }

  /** Through Redis: read; else take the lock (SET NX PX) and ask the provider; else wait for the holder's token. */
  async function viaRedis(client: RedisLike): Promise<Cached> {
    const fresh = (c: Cached | undefined): c is Cached => !!c && Date.now() < c.refreshAt && Date.now() < c.expiresAt
    /** Another instance's remembered refusal: adopt it, and answer with it. */
    const checkRefused = async () => {
      const shared = parseRefused(await withTimeout(client.get(`${key}:refused`)))
      if (shared && Date.now() < shared.until) {
        refused = shared
        throw refusedError(shared)
      }
    }
    const deadline = Date.now() + LOCK_TTL
    while (Date.now() < deadline) {
      const stored = parse(await withTimeout(client.get(key)))
      if (fresh(stored)) return stored
      await checkRefused()
      const owner = randomUUID()
      if (await withTimeout(client.set(`${key}:lock`, owner, 'PX', LOCK_TTL, 'NX'))) {
        try {
          // Double check: the previous holder may have stored a token (or a refusal) just before we locked.
          const again = parse(await withTimeout(client.get(key)))
          if (fresh(again)) return again
          await checkRefused()
          let next: Cached
          try {
            next = await ask()
          } catch (err) {
            if (refused && err instanceof AuthError && !TRANSIENT.has(err.code)) {
              await withTimeout(client.set(`${key}:refused`, JSON.stringify(refused), 'PX', refused.backoff)).catch(() => {})
            }
            throw err
          }
          await withTimeout(client.set(key, JSON.stringify(next), 'PX', Math.max(1, next.expiresAt - Date.now())))
          return next
        } finally {
          await withTimeout(client.eval(RELEASE, 1, `${key}:lock`, owner)).catch(() => {})
        }
      }
      await sleep(25 + Math.random() * 50)
    }
    // The holder neither finished nor let its lock expire: ask ourselves rather than fail.
    return ask()
  }

  /** Redis is worth trying: always, unless it is known down and the client says it still is. */
  const tryRedis = (client: RedisLike) => !redisDown || typeof client.status !== 'string' || client.status === 'ready' || client.status === 'wait'

  async function renew(): Promise<Cached> {
    if (redis && tryRedis(redis)) {
      try {
        const result = await viaRedis(redis)
        refused = undefined
        if (redisDown) log('oauth-tabs client_credentials: Redis is back; sharing tokens again')
        redisDown = false
        return result
      } catch (err) {
        if (err instanceof AuthError) {
          if (redisDown) log('oauth-tabs client_credentials: Redis is back; sharing tokens again')
          redisDown = false
          throw err
        }
        if (!redisDown) log(`oauth-tabs client_credentials: Redis unavailable (${logSafe((err as Error)?.message, 120)}); using this instance's own cache until it answers again`)
        redisDown = true
      }
    }
    return ask()
  }

  return {
    async getToken() {
      const now = Date.now()
      if (cached && now < cached.refreshAt) return cached.accessToken
      // A refusal retrying cannot fix: answer with it (or the old token) until the backoff ends.
      if (refused && now < refused.until) {
        if (usable(cached, now)) return cached.accessToken
        throw refusedError(refused)
      }
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

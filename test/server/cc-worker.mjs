// One server instance for the multi-process client_credentials test: run with fork(); the
// parent sends { round: n } and gets back the tokens its n concurrent callers received.
import Redis from 'ioredis'
import { createClientCredentials } from '../../dist/server/index.js'

const logs = []
const redis = new Redis({ port: Number(process.env.REDIS_PORT), host: '127.0.0.1', lazyConnect: false, maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: () => 200 })
redis.on('error', () => {})
const source = createClientCredentials({
  tokenEndpoint: process.env.TOKEN_ENDPOINT,
  clientId: 'confidential',
  clientSecret: process.env.SECRET,
  margin: 1,
  redis,
  ...(process.env.BACKOFF ? { refusalBackoff: Number(process.env.BACKOFF), maxRefusalBackoff: Number(process.env.MAX_BACKOFF) } : {}),
  log: (line) => logs.push(line),
})

process.on('message', async (message) => {
  if (message.round) {
    try {
      const results = await Promise.allSettled(Array.from({ length: message.round }, () => source.getToken()))
      const rejected = results.filter((r) => r.status === 'rejected')
      if (rejected.length) process.send({ error: String(rejected[0].reason), code: rejected[0].reason.code, errors: rejected.length, logs })
      else process.send({ tokens: [...new Set(results.map((r) => r.value))], logs })
    } catch (err) {
      process.send({ error: String(err), code: err.code, logs })
    }
  }
  if (message.exit) {
    redis.disconnect()
    process.exit(0)
  }
})
// Ready once connected: commands before that would fail (no offline queue) and count as Redis down.
// Every later 'ready' (a reconnection) is reported too.
redis.on('ready', () => process.send({ ready: true }))

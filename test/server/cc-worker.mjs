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
  log: (line) => logs.push(line),
})

process.on('message', async (message) => {
  if (message.round) {
    try {
      const tokens = await Promise.all(Array.from({ length: message.round }, () => source.getToken()))
      process.send({ tokens: [...new Set(tokens)], logs })
    } catch (err) {
      process.send({ error: String(err), logs })
    }
  }
  if (message.exit) {
    redis.disconnect()
    process.exit(0)
  }
})
// Ready once connected: commands before that would fail (no offline queue) and count as Redis down.
redis.once('ready', () => process.send({ ready: true }))

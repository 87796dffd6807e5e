// A bare `createServer(toNodeHandler(proxy))`, as the README shows it, in its own process so a
// crash is seen as a crash: run with fork(); it sends { port } once listening.
import { createServer } from 'node:http'
import { createTokenProxy, toNodeHandler } from '../../dist/server/index.js'

const proxy = createTokenProxy({
  tokenEndpoint: process.env.TOKEN_ENDPOINT,
  clientId: 'confidential',
  clientSecret: process.env.SECRET,
  allowedOrigins: ['https://app.example'],
  redirectUris: ['https://app.example/callback'],
  timeout: 2000,
  log: (line) => process.send({ log: line }),
})
const server = createServer(toNodeHandler(proxy)).listen(0, '127.0.0.1', () => process.send({ port: server.address().port }))

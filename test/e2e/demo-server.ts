import type { ViteDevServer } from 'vite'
import { freePort } from '../free-port.js'

/** The variables the demo's vite.config.ts reads; every start clears them, then sets what it is given. */
const DEMO_ENV = ['PORT', 'OP_PORT', 'DEMO_ACCESS_TOKEN_TTL', 'DEMO_CONFIDENTIAL', 'VITE_DPOP', 'VITE_USERINFO', 'VITE_ISSUER', 'VITE_CLIENT_ID', 'VITE_TOKEN_PROXY', 'VITE_SCOPE', 'VITE_API_ORIGINS']

/**
 * Starts what `npm start` serves (vite with the demo page, the embedded provider and the demo API) on
 * free loopback ports, with `env` set as `npm start` would read it. The variables stay set until
 * `stop()`, which closes the server and puts the environment back as it was.
 */
export async function startDemo(env: Record<string, string> = {}) {
  const saved = Object.fromEntries(DEMO_ENV.map((name) => [name, process.env[name]]))
  for (const name of DEMO_ENV) delete process.env[name]
  Object.assign(process.env, { PORT: String(await freePort()), OP_PORT: String(await freePort()), ...env })
  const { createServer } = await import('vite')
  const server: ViteDevServer = await createServer({ configFile: new URL('../../vite.config.ts', import.meta.url).pathname, logLevel: 'error' })
  await server.listen()
  return {
    app: `http://127.0.0.1:${process.env.PORT}`,
    opPort: process.env.OP_PORT!,
    async stop() {
      await server.close()
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name]
        else process.env[name] = value
      }
    },
  }
}

export type Demo = Awaited<ReturnType<typeof startDemo>>

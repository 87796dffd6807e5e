import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { CHROMIUM } from './harness.js'

/** The e2e suites drive the built package: build it first, and fail clearly without Chromium. */
export default function setup() {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (see .ci/run)`)
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' })
}

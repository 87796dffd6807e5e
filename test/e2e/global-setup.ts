import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { CHROMIUM } from './harness.js'

let built = false

/** The e2e and server suites drive the built package: build it first (once), and fail clearly without Chromium. */
export default function setup() {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (see .ci/run)`)
  if (built) return
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' })
  built = true
}

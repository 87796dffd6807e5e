import { existsSync } from 'node:fs'
import { CHROMIUM } from './harness.js'

/** The browser suites need Debian's Chromium: fail clearly without it. */
export default function setup() {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (see .ci/run)`)
}

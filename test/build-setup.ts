import { execFileSync } from 'node:child_process'

/**
 * Every suite that reads dist/ (the shipped code) builds it first, once per run. Global setups
 * run in vitest's main process before any test, one module instance per project, so the marker
 * is the environment, not a module variable.
 */
export default function setup() {
  if (process.env.OAUTH_TABS_BUILT) return
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' })
  process.env.OAUTH_TABS_BUILT = '1'
}

// Type-checks every ```ts example in the TSDoc of src/ against the built package's types
// (self-reference through package.json "exports"), as oauth4webapi's check-examples does.
// Usage: npm run build && npm run check-examples
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const dir = '.examples'
rmSync(dir, { recursive: true, force: true })
mkdirSync(dir)

const files = readdirSync('src', { recursive: true }).filter((f) => f.endsWith('.ts'))
let count = 0
for (const file of files) {
  const text = readFileSync(join('src', file), 'utf8')
  for (const block of text.matchAll(/\* ```(tsx?)\n((?:\s*\*.*\n)*?)\s*\* ```/g)) {
    const code = block[2].split('\n').map((line) => line.replace(/^\s*\* ?/, '')).join('\n')
    count += 1
    writeFileSync(join(dir, `${file.replace(/[/.]/g, '_')}_${count}.${block[1]}`), `${code}\nexport {}\n`)
  }
}
// What the examples take as given: an app's own objects.
writeFileSync(
  join(dir, 'globals.d.ts'),
  `declare const auth: import('oauth-tabs').Auth
declare const app: { use(path: string, handler: (...args: any[]) => void): void }
declare const proxy: import('oauth-tabs/server').FetchHandler
declare const url: string
declare function showMessage(message: string): void
declare function showBanner(message: string): void
declare function render(state: import('oauth-tabs').AuthState): void
declare function greet(name: string): void
declare const button: HTMLButtonElement
declare const redis: import('oauth-tabs/server').RedisLike
declare const tokens: import('oauth-tabs/server').ClientCredentials
`,
)
writeFileSync(
  join(dir, 'tsconfig.json'),
  JSON.stringify({ extends: '../tsconfig.json', compilerOptions: { noEmit: true, noUnusedLocals: false, types: ['node'] }, include: ['*.ts', '*.tsx'] }),
)
try {
  execFileSync('npx', ['tsc', '-p', join(dir, 'tsconfig.json')], { stdio: 'inherit' })
  console.log(`${count} TSDoc examples type-check`)
} finally {
  rmSync(dir, { recursive: true, force: true })
}

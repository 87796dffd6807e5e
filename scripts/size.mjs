// What a page pays for oauth-tabs, measured as the page loads it (issue G): the built package
// (dist/) bundled by esbuild --bundle --minify --format=esm --target=es2020 --splitting, each
// output file gzipped at level 9. "Up front" is the entry chunk plus every chunk it imports
// statically; each lazily imported chunk (import()) is reported apart, named by what it holds.
// Exits 1 when the up-front figure passes BUDGET. Writes bench/results/size.md.
// Usage: npm run build && npm run size
import { build } from 'esbuild'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join, relative, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { gzipSync } from 'node:zlib'

/** Up-front gzip bytes the browser entry may cost; oidc-client-ts's UserManager is 17,516 B. */
export const BUDGET = 16_219
const PEERS = 'oidc-client-ts UserManager 17,516 B; auth0-spa-js about 64 kB'

const root = resolve(import.meta.dirname, '..')
const entry = join(root, 'dist/index.js')

// Everything, and the narrow imports that tree-shaking must keep small.
/** Apps as they import the package (labels and sources); exported for the bundle test. */
export const APPS = [
  ['the whole browser entry (`export *`)', `export * from ${JSON.stringify(entry)}`],
  ['an app using createAuth only', `export { createAuth } from ${JSON.stringify(entry)}`],
  ['an app importing only AuthError', `export { AuthError } from ${JSON.stringify(entry)}`],
]

/** Where an input file comes from: its npm package, or our own module. */
const origin = (input) => {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)
  return m ? m[1] : `oauth-tabs/${relative(join(root, 'dist'), join(root, input)).replace(/\.js$/, '')}`
}

const gzip = (bytes) => gzipSync(bytes, { level: 9 }).length

/**
 * Bundles `source` (an app's module) as a page loads it. Returns the up-front bytes with their
 * code and origins, each lazy chunk likewise, and the output files. Exported for test/unit/bundle.test.ts.
 */
export async function measure(source) {
  const dir = mkdtempSync(join(tmpdir(), 'oauth-tabs-size-'))
  try {
    writeFileSync(join(dir, 'app.js'), source)
    const result = await build({
      entryPoints: [join(dir, 'app.js')],
      absWorkingDir: root,
      bundle: true,
      minify: true,
      format: 'esm',
      target: 'es2020',
      platform: 'browser',
      splitting: true,
      outdir: join(dir, 'out'),
      metafile: true,
      write: false,
      logLevel: 'silent',
    })
    const files = new Map(result.outputFiles.map((f) => [relative(root, f.path), f.contents]))
    const outputs = result.metafile.outputs
    const closure = (start, seen = new Set()) => {
      if (seen.has(start)) return seen
      seen.add(start)
      for (const i of outputs[start].imports) if (i.kind === 'import-statement') closure(i.path, seen)
      return seen
    }
    // (Chunks loaded by import() carry an entryPoint too: pick the app's own.)
    const entryFile = Object.keys(outputs).find((o) => outputs[o].entryPoint?.endsWith('app.js'))
    const upFront = closure(entryFile)
    const sum = (set) => [...set].reduce((acc, f) => ({ min: acc.min + files.get(f).length, gzip: acc.gzip + gzip(files.get(f)) }), { min: 0, gzip: 0 })
    // Bytes of minified output per package / own module, for "where do the bytes go".
    const byOrigin = (set) => {
      const out = {}
      for (const f of set) for (const [input, { bytesInOutput }] of Object.entries(outputs[f].inputs)) out[origin(input)] = (out[origin(input)] ?? 0) + bytesInOutput
      return Object.entries(out).filter(([, b]) => b > 0).sort((a, b) => b[1] - a[1])
    }
    const text = (set) => [...set].map((f) => Buffer.from(files.get(f)).toString()).join('\n')
    // Every chunk reached through import() from anything loaded, with what it loads statically.
    const lazy = []
    const loaded = new Set(upFront)
    const queue = [...upFront]
    while (queue.length) {
      const from = queue.shift()
      for (const i of outputs[from].imports) {
        if (i.kind !== 'dynamic-import' || loaded.has(i.path)) continue
        const chunk = new Set([...closure(i.path)].filter((f) => !loaded.has(f)))
        for (const f of chunk) {
          loaded.add(f)
          queue.push(f)
        }
        lazy.push({ ...sum(chunk), origins: byOrigin(chunk), code: text(chunk) })
      }
    }
    // The output files themselves (all in one directory), for a test that runs what a page runs.
    const out = [...files].map(([f, contents]) => ({ name: basename(f), contents, entry: f === entryFile }))
    return { ...sum(upFront), origins: byOrigin(upFront), lazy, code: text(upFront), files: out }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

async function main() {
  if (!existsSync(entry)) {
    console.error('dist/index.js is missing: run `npm run build` first')
    process.exit(2)
  }
  const results = []
  for (const [label, source] of APPS) results.push({ label, ...(await measure(source)) })
  const [whole] = results
  // A lazy chunk is named by what it holds: our modules, with the packages they bring.
  const name = (origins) => {
    const own = origins.filter(([o]) => o.startsWith('oauth-tabs/')).map(([o]) => o)
    const deps = origins.filter(([o]) => !o.startsWith('oauth-tabs/')).map(([o]) => o)
    return [own.join(', '), deps.length ? `(with ${deps.join(', ')})` : ''].filter(Boolean).join(' ')
  }
  const fmt = (n) => n.toLocaleString('en-US')

  const lines = [
    `Measured by scripts/size.mjs (esbuild --bundle --minify --format=esm --target=es2020 --splitting, gzip -9 per file). Budget up front: ${fmt(BUDGET)} B gzip (${PEERS}).`,
    '',
    '| what a page loads | min bytes | min+gzip bytes |',
    '| --- | ---: | ---: |',
    ...results.flatMap((r) => [
      `| ${r.label}: up front (entry + static chunks) | ${fmt(r.min)} | ${fmt(r.gzip)} |`,
      ...r.lazy.map((l) => `| ${r.label}: lazy chunk, only when needed: ${name(l.origins)} | ${fmt(l.min)} | ${fmt(l.gzip)} |`),
    ]),
    '',
    'Up front, minified bytes by origin (whole entry):',
    '',
    '| origin | min bytes |',
    '| --- | ---: |',
    ...whole.origins.map(([o, b]) => `| ${o} | ${fmt(b)} |`),
  ]
  for (const [i, l] of whole.lazy.entries()) {
    lines.push('', `Lazy chunk ${i + 1}, minified bytes by origin:`, '', '| origin | min bytes |', '| --- | ---: |', ...l.origins.map(([o, b]) => `| ${o} | ${fmt(b)} |`))
  }
  // What a page really downloads in each situation: up front plus the lazy chunks that situation loads.
  const withChunks = (modules) => {
    const chunks = whole.lazy.filter((l) => l.origins.some(([o]) => modules.includes(o.replace('oauth-tabs/', ''))))
    return chunks.reduce((acc, l) => acc + l.gzip, whole.gzip)
  }
  const scenarios = [
    ['a signed-in page load with a fresh token (API calls, no provider request)', whole.gzip],
    ['a page whose token is due (+ discovery, refresh, ID token checks: the protocol)', withChunks(['metadata', 'refresh'])],
    ['the callback page after login (+ login)', withChunks(['metadata', 'refresh', 'login'])],
    ['a page whose token is due, with dpop: true (+ the DPoP key and proofs)', withChunks(['metadata', 'refresh', 'dpop'])],
    ['every optional chunk but the no-Web-Locks fallback (login, popup, userInfo, PAR, DPoP, logout)', whole.gzip + whole.lazy.filter((l) => !l.origins.some(([o]) => o === 'broadcast-channel')).reduce((a, l) => a + l.gzip, 0)],
  ]
  lines.splice(
    lines.indexOf('Up front, minified bytes by origin (whole entry):'),
    0,
    'What a page downloads, by situation (whole entry; gzip bytes summed over the files it loads):',
    '',
    '| situation | min+gzip bytes |',
    '| --- | ---: |',
    ...scenarios.map(([label, bytes]) => `| ${label} | ${fmt(bytes)} |`),
    '',
  )
  const table = lines.join('\n')
  console.log(table)
  mkdirSync(join(root, 'bench/results'), { recursive: true })
  writeFileSync(join(root, 'bench/results/size.md'), table + '\n')

  if (whole.gzip > BUDGET) {
    console.error(`\nFAIL: ${fmt(whole.gzip)} B gzip up front is over the budget of ${fmt(BUDGET)} B`)
    process.exit(1)
  }
  console.log(`\nOK: ${fmt(whole.gzip)} B gzip up front, budget ${fmt(BUDGET)} B`)
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main()

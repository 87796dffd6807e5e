// Prints min + gzip bytes of the browser entry (createAuth with its dependencies) and of the
// dependencies alone, bundled as the issue specifies: esbuild --bundle --minify --format=esm --target=es2020.
// Usage: npm run build && npm run size
import { build } from 'esbuild'
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { gzipSync } from 'node:zlib'

const used = {
  oauth4webapi: readUsed('oauth4webapi'),
  'idb-keyval': readUsed('idb-keyval'),
  'broadcast-channel': readUsed('broadcast-channel'),
}

// The names our sources import from each dependency, so "dependencies alone" is tree-shaken the same way.
function readUsed(pkg) {
  const names = new Set()
  for (const file of ['client', 'errors', 'login', 'metadata', 'refresh', 'store', 'tabs', 'tokens', 'fetch', 'config']) {
    const src = readFileSync(`dist/${file}.js`, 'utf8')
    for (const m of src.matchAll(new RegExp(`import \\{([^}]+)\\} from '${pkg}'`, 'g'))) {
      for (const n of m[1].split(',')) names.add(n.trim().split(' ')[0])
    }
    if (new RegExp(`import \\* as oauth from '${pkg}'`).test(src)) {
      for (const m of src.matchAll(/oauth\.(\w+)/g)) names.add(m[1])
    }
  }
  return [...names].filter(Boolean)
}

async function measure(label, contents) {
  const result = await build({
    stdin: { contents, resolveDir: process.cwd(), loader: 'js' },
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2020',
    platform: 'browser',
    write: false,
    logLevel: 'silent',
  })
  const code = result.outputFiles[0].contents
  return { label, min: code.length, gzip: gzipSync(code, { level: 9 }).length }
}

const rows = [
  await measure('oauth-tabs browser entry (createAuth + dependencies)', `export * from './dist/index.js'`),
  await measure('dependencies alone (the parts oauth-tabs imports)', Object.entries(used).map(([pkg, names], i) => `export { ${names.join(', ')} } from '${pkg}'`.replace(/export \{ (.*) \}/, (_, n) => `export { ${n.split(', ').map((x) => `${x} as ${x}_${i}`).join(', ')} }`)).join('\n')),
  await measure('dependencies whole (oauth4webapi + idb-keyval + broadcast-channel)', `export * as a from 'oauth4webapi'; export * as b from 'idb-keyval'; export * as c from 'broadcast-channel'`),
]
const own = { label: 'oauth-tabs own code (entry minus dependencies it imports)', min: rows[0].min - rows[1].min, gzip: rows[0].gzip - rows[1].gzip }
rows.push(own)
const table = ['| bundle | min bytes | min+gzip bytes |', '| --- | ---: | ---: |', ...rows.map((r) => `| ${r.label} | ${r.min} | ${r.gzip} |`)].join('\n')
console.log(table)
mkdirSync('bench/results', { recursive: true })
writeFileSync('bench/results/size.md', table + '\n')

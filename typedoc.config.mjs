// TypeDoc for `npm run docs`: one entry point per subpath export in package.json, so a new export
// (oauth-tabs/react) is documented as soon as package.json lists it. Output: docs/api/ (gitignored).
import { existsSync, readFileSync } from 'node:fs'
import { URL } from 'node:url'

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'))

/** './dist/server/index.d.ts' -> 'src/server/index.ts' (or .tsx), the source the declarations come from. */
const source = (types) => {
  const base = types.replace(/^\.\/dist\//, 'src/').replace(/\.d\.ts$/, '')
  return [`${base}.ts`, `${base}.tsx`].find((file) => existsSync(new URL(file, import.meta.url)))
}

const entryPoints = Object.values(pkg.exports)
  .map((target) => (typeof target === 'object' && target.types ? source(target.types) : undefined))
  .filter(Boolean)

/** @type {Partial<import('typedoc').TypeDocOptions>} */
export default {
  name: pkg.name,
  entryPoints,
  tsconfig: 'tsconfig.json',
  out: 'docs/api',
  readme: 'README.md',
  projectDocuments: ['docs/providers.md', 'docs/migration.md', 'CHANGELOG.md'].filter((f) => existsSync(new URL(f, import.meta.url))),
  excludePrivate: true,
  excludeInternal: true,
  excludeExternals: true,
  sort: ['source-order'],
  validation: { notExported: true, invalidLink: true, invalidPath: true, rewrittenLink: true, notDocumented: true, unusedMergeModuleWith: true },
  treatWarningsAsErrors: true,
  // Source links would point at a git remote; a clone (CI) has none that TypeDoc recognises.
  disableSources: true,
  highlightLanguages: ['ts', 'tsx', 'js', 'sh', 'bash', 'json', 'http', 'mermaid', 'html'],
  githubPages: false,
}

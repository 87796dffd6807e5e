// The consumer side of the package test: a temp dir outside the repo with the packed tarball
// installed from the npm registry (cache first), vite apps built with the repo's own vite, and
// Node scripts run against the installed package. Everything here runs a real tool; nothing is mocked.
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, mkdirSync, existsSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, extname, join, posix, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { gzipSync } from 'node:zlib'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const run = promisify(execFile)

/** Runs a command with a bounded time; output is returned, a failure throws with its stderr. */
export async function sh(cmd: string, args: string[], cwd: string, timeout = 90_000, env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run(cmd, args, { cwd, timeout, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, npm_config_update_notifier: 'false', ...env } })
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string }
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`)
  }
}

export const tempDir = (label: string) => mkdtempSync(join(tmpdir(), `oauth-tabs-${label}-`))
export const removeDir = (dir: string | undefined) => dir && rmSync(dir, { recursive: true, force: true })

/** `npm pack` of the repo into `dir`, unpacked next to it. Returns the tarball path and the unpacked root. */
export async function pack(dir: string): Promise<{ tarball: string; unpacked: string; files: string[] }> {
  const { stdout } = await sh('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], ROOT)
  const [info] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[]
  const tarball = join(dir, info.filename)
  const unpacked = join(dir, 'unpacked')
  mkdirSync(unpacked)
  await sh('tar', ['-xzf', tarball, '-C', unpacked], dir)
  return { tarball, unpacked: join(unpacked, 'package'), files: info.files.map((f) => f.path).sort() }
}

/** Every file under `dir`, as posix paths relative to it. */
export function walk(dir: string, base = dir): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? walk(path, base) : [relative(base, path).split('\\').join('/')]
  })
}

/** Source map problems in an unpacked package: references to files that are not shipped. */
export function sourceMapProblems(root: string, files: readonly string[]): string[] {
  const shipped = new Set(files)
  const problems: string[] = []
  for (const file of files) {
    const text = ['.js', '.ts', '.mjs', '.map'].includes(extname(file)) ? readFileSync(join(root, file), 'utf8') : ''
    for (const m of text.matchAll(/^\/\/# sourceMappingURL=(\S+)\s*$/gm)) {
      if (m[1].startsWith('data:')) continue
      const target = posix.normalize(posix.join(posix.dirname(file), m[1]))
      if (!shipped.has(target)) problems.push(`${file}: sourceMappingURL ${m[1]} -> ${target} is not in the tarball`)
    }
    if (file.endsWith('.map')) {
      const map = JSON.parse(text) as { sources: string[]; sourceRoot?: string }
      for (const source of map.sources) {
        const target = posix.normalize(posix.join(posix.dirname(file), map.sourceRoot ?? '', source))
        if (!shipped.has(target)) problems.push(`${file}: source ${source} -> ${target} is not in the tarball`)
      }
    }
  }
  return problems
}

/** Writes files (path -> content) under `dir`. */
export function writeFiles(dir: string, files: Record<string, string>) {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true })
    writeFileSync(join(dir, path), content)
  }
}

/** A vite build with the repo's vite, run in `appDir` (which has its own node_modules). */
export async function viteBuild(appDir: string): Promise<{ stdout: string; stderr: string }> {
  return sh(process.execPath, [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--manifest', '--sourcemap', '--logLevel', 'warn', '--emptyOutDir'], appDir)
}

interface ManifestChunk {
  file: string
  isEntry?: boolean
  imports?: string[]
  dynamicImports?: string[]
}

export interface Chunk {
  file: string
  code: string
  gzip: number
  /** Modules the chunk was built from (its source map's `sources`, resolved against the app). */
  modules: string[]
}

/**
 * The app's JavaScript split as a page loads it: `upFront` is the entry chunk plus every chunk it
 * imports statically (from vite's manifest); `lazy` is every other chunk (dynamic imports).
 */
export function readBundle(appDir: string): { upFront: Chunk[]; lazy: Chunk[] } {
  const dist = join(appDir, 'dist')
  const manifest = JSON.parse(readFileSync(join(dist, '.vite/manifest.json'), 'utf8')) as Record<string, ManifestChunk>
  const entries = Object.keys(manifest).filter((k) => manifest[k].isEntry)
  const upFrontKeys = new Set<string>()
  const visit = (key: string) => {
    if (upFrontKeys.has(key)) return
    upFrontKeys.add(key)
    for (const next of manifest[key].imports ?? []) visit(next)
  }
  entries.forEach(visit)
  const upFrontFiles = new Set([...upFrontKeys].map((k) => manifest[k].file))
  const chunk = (file: string): Chunk => {
    const code = readFileSync(join(dist, file), 'utf8').replace(/\n?\/\/# sourceMappingURL=\S+\s*$/, '')
    const mapPath = join(dist, `${file}.map`)
    const map = existsSync(mapPath) ? (JSON.parse(readFileSync(mapPath, 'utf8')) as { sources: string[] }) : { sources: [] }
    const modules = map.sources.map((s) => relative(appDir, resolve(dirname(mapPath), s)).split('\\').join('/'))
    return { file, code, gzip: gzipSync(code, { level: 9 }).length, modules }
  }
  const allJs = walk(dist).filter((f) => f.endsWith('.js'))
  return { upFront: allJs.filter((f) => upFrontFiles.has(f)).map(chunk), lazy: allJs.filter((f) => !upFrontFiles.has(f)).map(chunk) }
}

/** Static `import` / `export from` / `import()` / `require()` of a `node:` module in bundled code. */
export const NODE_IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s*|\brequire\s*\(\s*)["'`]node:[\w/]+["'`]/

/** Serves `dir` statically on 127.0.0.1 (index.html for unknown paths). Stop with `close()`. */
export async function serveStatic(dir: string): Promise<{ origin: string; close: () => Promise<void> }> {
  const types: Record<string, string> = { '.js': 'text/javascript', '.html': 'text/html', '.map': 'application/json', '.css': 'text/css' }
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    const file = join(dir, path)
    const target = file.startsWith(dir) && existsSync(file) && statSync(file).isFile() ? file : join(dir, 'index.html')
    res.setHeader('content-type', types[extname(target)] ?? 'application/octet-stream')
    res.end(readFileSync(target))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections()
      return new Promise((r) => server.close(() => r()))
    },
  }
}

/** A throwaway redis-server on a free port; `stop()` kills it by its handle. */
export async function startRedis(port: number): Promise<{ stop: () => void }> {
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  const failed = new Promise<never>((_, reject) => child.once('error', reject))
  // Bounded wait for the port to answer: 100 tries, 50 ms apart.
  for (let i = 0; i < 100; i++) {
    const up = await Promise.race([
      failed,
      new Promise<boolean>((r) => {
        const socket = connect(port, '127.0.0.1', () => (socket.destroy(), r(true)))
        socket.on('error', () => r(false))
      }),
    ])
    if (up) return { stop: () => void child.kill() }
    await new Promise((r) => setTimeout(r, 50))
  }
  child.kill()
  throw new Error(`redis-server did not listen on ${port}`)
}

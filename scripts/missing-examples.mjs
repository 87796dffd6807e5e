// Lists the public symbols (exports of every entry point, and the members of exported interfaces
// and classes) whose TSDoc has no @example. Informational: prints the list and the counts.
// Usage: node scripts/missing-examples.mjs   (reads the entry points from typedoc.config.mjs)
import { Application, ReflectionKind } from 'typedoc'
import config from '../typedoc.config.mjs'

const app = await Application.bootstrap({ ...config, treatWarningsAsErrors: false, validation: { notDocumented: false }, logLevel: 'Error' })
const project = await app.convert()
if (!project) process.exit(1)

const hasExample = (reflection) => {
  const r = reflection.kindOf(ReflectionKind.Reference) ? reflection.getTargetReflectionDeep() : reflection
  const comments = [r.comment, ...(r.signatures ?? []).map((s) => s.comment), r.getSignature?.comment]
  return comments.some((c) => c?.blockTags.some((t) => t.tag === '@example'))
}
const modules = project.children?.some((c) => c.kindOf(ReflectionKind.Module)) ? project.children : [project]
const top = []
const members = []
for (const mod of modules) {
  for (const symbol of mod.children ?? []) {
    const name = `${mod === project ? '' : `${mod.name}.`}${symbol.name}`
    top.push({ name, kind: ReflectionKind.singularString(symbol.kind), example: hasExample(symbol) })
    if (symbol.kindOf(ReflectionKind.Interface | ReflectionKind.Class)) {
      for (const m of symbol.children ?? []) {
        if (m.flags.isPrivate || m.flags.isProtected || m.kindOf(ReflectionKind.Constructor)) continue
        // Methods, and function-valued properties of the client itself (auth.fetch); options are data.
        if (m.kindOf(ReflectionKind.Method) || (!symbol.name.endsWith('Options') && ['reflection', 'query'].includes(m.type?.type))) {
          members.push({ name: `${name}.${m.name}`, kind: ReflectionKind.singularString(m.kind), example: hasExample(m) })
        }
      }
    }
  }
}
const report = (title, list) => {
  const missing = list.filter((s) => !s.example)
  console.log(`${title}: ${missing.length} of ${list.length} without @example`)
  for (const s of missing) console.log(`  ${s.name} (${s.kind})`)
}
report('exported symbols', top)
report('methods of exported interfaces and classes', members)

// `status` is run often (scripts, monitoring): its fast path (dist/cli/status-fast-path.js) is
// bundled into one module, dist/status-bundle/status.js, with the core plugins' executor hooks
// and the libraries it loads (zod alone is 95 modules). Node's loader costs about half a
// millisecond per module on this kind of machine; one module instead of ~160 is most of what
// `status` spends beyond node's own start-up. bin/run.js loads the bundle; the modules it was
// made from stay the reference (tests import them).
import {readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {pathToFileURL} from 'node:url'

import {build} from 'esbuild'

const root = resolve(import.meta.dirname, '..')
// The hooks as the fast path finds them (compiled by tsc before this runs): one lookup, not two.
const {coreExecutorHooks, readPackageJson} = await import(
  pathToFileURL(join(root, 'dist/cli/status-fast-path.js')).href
)
const found = coreExecutorHooks(root, readPackageJson(join(root, 'package.json')))
if (!found) throw new Error("bundle-status: the core plugins' executor hooks cannot be found (npm ci, then tsc)")
const hooks = found.map((h) => ({key: `${h.plugin} ${h.hook}`, file: h.file}))

const entry = [
  `import {fastStatus} from ${JSON.stringify(join(root, 'dist/cli/status-fast-path.js'))}`,
  ...hooks.map((h, i) => `import hook${i} from ${JSON.stringify(h.file)}`),
  `const preloaded = new Map([${hooks.map((h, i) => `[${JSON.stringify(h.key)}, hook${i}]`).join(', ')}])`,
  'export const fastStatusBundled = (argv, root, env = process.env) => fastStatus(argv, root, env, preloaded)',
].join('\n')

// zod's namespace (`import {z} from 'zod'`) holds every locale's messages: 40 % of its code, to
// parse at each start. The messages of this program are English (zod's default, which its schemas
// import directly): `z.locales` keeps only `en` in the bundle. test/architecture.test.ts checks
// that no source chooses another locale.
const onlyEnglishZodLocale = {
  name: 'zod-english-only',
  setup(b) {
    b.onLoad({filter: /[\\/]node_modules[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/}, (args) => {
      if (!readFileSync(args.path, 'utf8').includes(`export { default as en } from "./en.js";`))
        throw new Error(`bundle-status: ${args.path} no longer exports 'en' as expected: review the zod locale filter`)
      return {contents: `export { default as en } from "./en.js";\n`, loader: 'js'}
    })
  },
}

// The entry is written next to what it imports; the bundle goes to dist/status-bundle/. What the
// fast path imports only when needed (the executors themselves, the PostgreSQL store) stays in
// chunks of their own, loaded only then.
const entryFile = join(root, 'dist/cli/status-fast-path.bundle-entry.js')
rmSync(join(root, 'dist/status-bundle'), {recursive: true, force: true})
writeFileSync(entryFile, `${entry}\n`)
const result = await build({
  entryPoints: {status: entryFile},
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outdir: join(root, 'dist/status-bundle'),
  chunkNames: 'chunk-[hash]',
  // Loaded only for a state_url (PostgreSQL), and CommonJS with optional native parts: left to node.
  external: ['pg', 'pg-native'],
  // CommonJS code inside an ES module bundle needs a `require` for node's built-in modules.
  banner: {
    js: "import {createRequire as __hprCreateRequire} from 'node:module'; const require = __hprCreateRequire(import.meta.url);",
  },
  plugins: [onlyEnglishZodLocale],
  legalComments: 'none',
  minify: true,
  keepNames: true,
  logLevel: 'warning',
  metafile: true,
})
// What a plain `status` loads: the entry and the chunks it imports statically.
const outputs = result.metafile.outputs
const loaded = new Set()
const visit = (file) => {
  if (loaded.has(file) || !outputs[file]) return
  loaded.add(file)
  for (const i of outputs[file].imports) if (i.kind === 'import-statement') visit(i.path)
}
visit(Object.keys(outputs).find((f) => f.endsWith('/status.js')))
const kib = Math.round([...loaded].reduce((n, f) => n + outputs[f].bytes, 0) / 1024)
console.log(
  `status bundle: ${Object.keys(result.metafile.inputs).length} modules in ${Object.keys(outputs).length} files; a plain status loads ${loaded.size} of them (${kib} KiB)`,
)

// `status` is run often (scripts, monitoring): its fast path (dist/cli/status-fast-path.js) is
// bundled into one CommonJS file, dist/status-bundle/status.cjs, with the core plugins' executor
// hooks and the libraries it loads (zod alone is 95 modules). Node's loader costs about half a
// millisecond per module on this kind of machine; one file instead of ~160 modules is most of
// what `status` spends beyond node's own start-up. CommonJS because V8 can then run it from a
// code cache (dist/cli/code-cached-module.js), written here after a run of `status`: compiling
// the bundle was the largest part left. bin/run.cjs loads the bundle; the modules it was made
// from stay the reference (tests import them).
import {spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
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

// The entry goes to a scratch folder (its imports are absolute paths), the bundle to
// dist/status-bundle/. What the fast path imports only when needed (the executors' own code, the
// PostgreSQL store) is in the file but runs only then: esbuild turns a dynamic import into a lazy
// initialiser.
const outDir = join(root, 'dist/status-bundle')
const bundleFile = join(outDir, 'status.cjs')
const cacheFile = `${bundleFile}.v8-cache`
rmSync(outDir, {recursive: true, force: true})
const scratch = mkdtempSync(join(tmpdir(), 'hpr-bundle-status-'))
try {
  const entryFile = join(scratch, 'status-entry.js')
  writeFileSync(entryFile, `${entry}\n`)
  const result = await build({
    entryPoints: [entryFile],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile: bundleFile,
    // pg: only for a state_url, CommonJS with optional native parts. undici and simple-git: only
    // an executor talking to its service needs them (a plain status never does); inside, they
    // would be two thirds of the file, read and deserialised at each start. Node loads them then.
    external: ['pg', 'pg-native', 'undici', 'simple-git'],
    plugins: [onlyEnglishZodLocale],
    legalComments: 'none',
    minify: true,
    keepNames: true,
    // esbuild's default: non-ASCII characters escaped. code-cached-module.js relies on it.
    charset: 'ascii',
    logLevel: 'warning',
    metafile: true,
  })
  // The loader, as CommonJS beside the bundle: bin/run.cjs requires it (src/cli/code-cached-module.ts).
  const loaderFile = join(outDir, 'code-cached-module.cjs')
  await build({
    entryPoints: [join(root, 'dist/cli/code-cached-module.js')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile: loaderFile,
    logLevel: 'warning',
  })
  const source = readFileSync(bundleFile)
  if (source.some((byte) => byte > 0x7f)) throw new Error(`bundle-status: ${bundleFile} is not ASCII`)

  // The code cache: a child process runs `status` from the bundle on a throw-away configuration
  // (`status` and `status --json`, no daemon running) and writes what V8 compiled; a second one
  // checks that V8 accepts it. Their environment is their own: V8 flags in NODE_OPTIONS here would
  // make a cache that a plain `node` rejects.
  const config = join(scratch, 'c.toml')
  writeFileSync(
    config,
    `state_file = ${JSON.stringify(join(scratch, 'state.json'))}\n[quota_computation]\nreference_runner = "c"\nreference_flavor = "L"\nreference_jobs_count = 3\n[[runners]]\nname = "c"\nurl = "https://gitlab.example"\ntoken = "glrt-bundlestatus123"\nexecutor = "clever-docker"\ncc_orga_id = "orga_x"\ncc_token = "cc-bundle-token"\n`,
  )
  const child = (script) => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: {PATH: process.env.PATH, HOME: scratch, HEPTAPOD_PAAS_RUNNER_DATA_DIR: join(scratch, 'data')},
      timeout: 120_000,
    })
    if (r.status !== 0) throw new Error(`bundle-status: the code cache run failed: ${r.error ?? r.stderr}`)
    return r.stdout
  }
  const load = `const {loadWithCodeCache} = (await import('node:module')).createRequire(import.meta.url)(${JSON.stringify(loaderFile)})
const m = loadWithCodeCache(${JSON.stringify(bundleFile)}, ${JSON.stringify(cacheFile)})`
  child(`${load}
for (const args of [[], ['--json']]) {
  const code = await m.exports.fastStatusBundled([${JSON.stringify(config)}, ...args], ${JSON.stringify(root)})
  if (typeof code !== 'number') throw new Error('the fast path handed status to oclif')
}
const {writeFileSync, renameSync} = await import('node:fs')
writeFileSync(${JSON.stringify(`${cacheFile}.tmp`)}, m.createCache())
renameSync(${JSON.stringify(`${cacheFile}.tmp`)}, ${JSON.stringify(cacheFile)})`)
  const verdict = child(`${load}
process.stdout.write(m.cache)`)
  if (verdict !== 'accepted') console.warn(`status bundle: the code cache is not used (${verdict})`)
  console.log(
    `status bundle: ${Object.keys(result.metafile.inputs).length} modules in ${Math.round(source.length / 1024)} KiB; code cache ${Math.round(readFileSync(cacheFile).length / 1024)} KiB`,
  )
} finally {
  rmSync(scratch, {recursive: true, force: true})
}

#!/usr/bin/env node
import {fileURLToPath} from 'node:url'

// React (the TUI) runs its production build unless told otherwise.
process.env.NODE_ENV ??= 'production'

// `status` is run often (scripts, monitoring) and oclif is half of its cold start: its plain forms
// are answered without oclif (src/cli/status-fast-path.ts); anything else, or a doubt, goes to oclif.
const argv = process.argv.slice(2)
let code
if (argv[0] === 'status') {
  // One bundled file (scripts/bundle-status.mjs) rather than the ~160 modules it is made of, run
  // from V8's code cache. Without it (compiled by `tsc` alone, not `npm run build`), oclif answers.
  const {loadWithCodeCache} = await import('../dist/cli/code-cached-module.js')
  const bundle = fileURLToPath(new URL('../dist/status-bundle/status.cjs', import.meta.url))
  const loaded = loadWithCodeCache(bundle, `${bundle}.v8-cache`)
  if (loaded)
    code = await loaded.exports.fastStatusBundled(argv.slice(1), fileURLToPath(new URL('..', import.meta.url)))
}
if (code === undefined) {
  const {execute, settings} = await import('@oclif/core')
  // Plugins (bundled or linked) are always loaded from their compiled JavaScript; never try ts-node/tsx.
  settings.enableAutoTranspile = false
  await execute({dir: import.meta.url})
} else {
  process.exitCode = code
}

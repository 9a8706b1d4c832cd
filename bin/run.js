#!/usr/bin/env node
import {fileURLToPath} from 'node:url'

// React (the TUI) runs its production build unless told otherwise.
process.env.NODE_ENV ??= 'production'

// `status` is run often (scripts, monitoring) and oclif is half of its cold start: its plain forms
// are answered without oclif (src/cli/status-fast-path.ts); anything else, or a doubt, goes to oclif.
const argv = process.argv.slice(2)
let code
if (argv[0] === 'status') {
  // One bundled module (scripts/bundle-status.mjs) rather than the ~160 it is made of. Without it
  // (compiled by `tsc` alone, not `npm run build`), oclif answers.
  const bundle = await import('../dist/status-bundle/status.js').catch((error) => {
    if (error?.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('status-bundle')) return undefined
    throw error
  })
  if (bundle) code = await bundle.fastStatusBundled(argv.slice(1), fileURLToPath(new URL('..', import.meta.url)))
}
if (code === undefined) {
  const {execute, settings} = await import('@oclif/core')
  // Plugins (bundled or linked) are always loaded from their compiled JavaScript; never try ts-node/tsx.
  settings.enableAutoTranspile = false
  await execute({dir: import.meta.url})
} else {
  process.exitCode = code
}

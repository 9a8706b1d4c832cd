#!/usr/bin/env node
import {fileURLToPath} from 'node:url'

// React (the TUI) runs its production build unless told otherwise.
process.env.NODE_ENV ??= 'production'

// `status` is run often (scripts, monitoring) and oclif is half of its cold start: its plain forms
// are answered without oclif (src/cli/status-fast-path.ts); anything else, or a doubt, goes to oclif.
const argv = process.argv.slice(2)
let code
if (argv[0] === 'status') {
  const {fastStatus} = await import('../dist/cli/status-fast-path.js')
  code = await fastStatus(argv.slice(1), fileURLToPath(new URL('..', import.meta.url)))
}
if (code === undefined) {
  const {execute, settings} = await import('@oclif/core')
  // Plugins (bundled or linked) are always loaded from their compiled JavaScript; never try ts-node/tsx.
  settings.enableAutoTranspile = false
  await execute({dir: import.meta.url})
} else {
  process.exitCode = code
}

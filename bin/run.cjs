#!/usr/bin/env node
'use strict'
// The CLI's entry. CommonJS, unlike the rest of the package: node starts a CommonJS entry about
// 10 ms sooner than an ES module one, and `require` loads the status bundle's loader without
// starting the ES module loader (8 ms more), which counts for `status`, run often (scripts,
// monitoring). bin/run.js runs this file too.
const {existsSync} = require('node:fs')
const {join} = require('node:path')

// React (the TUI) runs its production build unless told otherwise.
process.env.NODE_ENV ??= 'production'

async function main() {
  const argv = process.argv.slice(2)
  // `status`'s plain forms are answered without oclif, half of its cold start
  // (src/cli/status-fast-path.ts): from one bundled file (scripts/bundle-status.mjs) rather than
  // the ~160 modules it is made of, run from V8's code cache. Without the bundle (compiled by
  // `tsc` alone, not `npm run build`), or for any other form, oclif answers.
  if (argv[0] === 'status') {
    const root = join(__dirname, '..')
    const dir = join(root, 'dist/status-bundle')
    const loader = join(dir, 'code-cached-module.cjs')
    const loaded = existsSync(loader)
      ? require(loader).loadWithCodeCache(join(dir, 'status.cjs'), join(dir, 'status.cjs.v8-cache'))
      : undefined
    const code = loaded ? await loaded.exports.fastStatusBundled(argv.slice(1), root) : undefined
    if (code !== undefined) {
      process.exitCode = code
      return
    }
  }
  const {execute, settings} = await import('@oclif/core')
  // Plugins (bundled or linked) are always loaded from their compiled JavaScript; never try ts-node/tsx.
  settings.enableAutoTranspile = false
  await execute({dir: __filename})
}

// As an ES module's top-level await would: a failure here (oclif handles its own) exits 1, whatever
// node's --unhandled-rejections mode.
main().catch((error) => {
  process.exitCode = 1
  console.error(error)
})

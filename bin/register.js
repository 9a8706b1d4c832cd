#!/usr/bin/env node
// The original's `heptapod-paas-runner-register CONFIG [-c URL] [-t TOKEN] [-e EXECUTOR] …`: the same
// flags, translated into `heptapod-paas-runner register`'s.
import {execute, settings} from '@oclif/core'

import {translateOriginalRegisterArgs} from '../dist/cli/original-register-args.js'

settings.enableAutoTranspile = false
process.env.NODE_ENV ??= 'production'
let args
try {
  args = translateOriginalRegisterArgs(process.argv.slice(2), Boolean(process.stdin.isTTY))
} catch (error) {
  process.stderr.write(
    `usage: heptapod-paas-runner-register [-h] [--name NAME] [-c COORDINATOR_URL] [-t REGISTRATION_TOKEN] [-e EXECUTOR] [--max-concurrency N] [--state-file-path PATH] [-l LEVEL] config\nheptapod-paas-runner-register: error: ${error.message}\n`,
  )
  process.exit(2)
}
await execute({dir: new URL('run.js', import.meta.url).href, args})

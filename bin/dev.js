#!/usr/bin/env node
import {execute, settings} from '@oclif/core'

// Development entry point: the CLI of run.cjs (without its status fast path), with oclif's development mode (stack traces, debug output).
// It runs the compiled dist/ (run `npm run build` or `npx tsc -w` alongside): oclif cannot transpile ESM on Node 20.
settings.enableAutoTranspile = false
await execute({development: true, dir: import.meta.url})

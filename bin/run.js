#!/usr/bin/env node
import {execute, settings} from '@oclif/core'

// Plugins (bundled or linked) are always loaded from their compiled JavaScript; never try ts-node/tsx.
settings.enableAutoTranspile = false
// React (the TUI) runs its production build unless told otherwise.
process.env.NODE_ENV ??= 'production'
await execute({dir: import.meta.url})

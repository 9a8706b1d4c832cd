#!/usr/bin/env node
import {execute, settings} from '@oclif/core'

// Plugins (bundled or linked) are always loaded from their compiled JavaScript; never try ts-node/tsx.
settings.enableAutoTranspile = false
await execute({dir: import.meta.url})

import type {ExecutorFactory} from '../../src/core/executor.js'
import {memoryExecutorFactory} from '../../src/plugins/memory/memory-executor.js'
import {CLEVER_SECRET_KEYS, cleverConfigSchema} from '../../src/plugins/clever-docker/clever-config.js'

/**
 * Executors for config tests: the real memory executor, and the real clever-docker config
 * schema (its executor is not needed to validate a file).
 */
export const cleverSchemaOnly: ExecutorFactory = {
  name: 'clever-docker',
  description: 'clever-docker config schema (config tests only)',
  configSchema: cleverConfigSchema,
  secretKeys: CLEVER_SECRET_KEYS,
  create() {
    throw new Error('config tests do not create executors')
  },
}

export const testExecutors: ReadonlyMap<string, ExecutorFactory> = new Map<string, ExecutorFactory>([
  ['memory', memoryExecutorFactory as unknown as ExecutorFactory],
  ['clever-docker', cleverSchemaOnly],
])

import type {ExecutorFactory} from '../../src/core/executor.js'
import {memoryExecutorFactory} from '../../src/test-doubles/memory/memory-executor.js'
import {cleverDockerExecutorFactory} from '../../src/plugins/clever-docker/clever-factory.js'

/** The bundled executors, as the config parser sees them. */
export const testExecutors: ReadonlyMap<string, ExecutorFactory> = new Map<string, ExecutorFactory>([
  ['memory', memoryExecutorFactory as unknown as ExecutorFactory],
  ['clever-docker', cleverDockerExecutorFactory as unknown as ExecutorFactory],
])

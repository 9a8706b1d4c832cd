import {executorsHook} from '@heptapod-paas-runner/plugin-api'

import {memoryExecutorFactory} from '../memory-executor.js'

/** The `paas:executors` hook (see package.json): what this plugin contributes. */
export default executorsHook(memoryExecutorFactory)

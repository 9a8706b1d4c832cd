import {executorsHook} from '@heptapod-paas-runner/plugin-api'

import {dirExecutorFactory} from '../index.js'

/** Declared in package.json under `oclif.hooks["paas:executors"]`: the host calls it at start. */
export default executorsHook(dirExecutorFactory)

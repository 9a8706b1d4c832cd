import {executorsHook} from '@heptapod-paas-runner/plugin-api'

import {cleverDockerExecutorFactory} from '../clever-factory.js'

/** The `paas:executors` hook (see package.json): what this plugin contributes. */
export default executorsHook(cleverDockerExecutorFactory)

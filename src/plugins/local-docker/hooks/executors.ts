import {executorsHook} from '@heptapod-paas-runner/plugin-api'

import {localDockerExecutorFactory} from '../local-docker-factory.js'

/** The `paas:executors` hook (see package.json): what this plugin contributes. */
export default executorsHook(localDockerExecutorFactory)

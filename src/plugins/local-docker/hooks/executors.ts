import type {Hook} from '@oclif/core'

import '../../../plugin-api/executors-hook.js'
import type {ExecutorFactory} from '../../../core/executor.js'
import {localDockerExecutorFactory} from '../local-docker-factory.js'

const hook: Hook<'paas:executors'> = async function () {
  return [localDockerExecutorFactory as unknown as ExecutorFactory]
}

export default hook

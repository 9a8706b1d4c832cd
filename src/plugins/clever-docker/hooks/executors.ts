import type {Hook} from '@oclif/core'

import '../../../plugin-api/executors-hook.js'
import type {ExecutorFactory} from '../../../core/executor.js'
import {cleverDockerExecutorFactory} from '../clever-factory.js'

const hook: Hook<'paas:executors'> = async function () {
  return [cleverDockerExecutorFactory as unknown as ExecutorFactory]
}

export default hook

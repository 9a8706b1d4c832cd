import {LazyExecutor} from '../../core/lazy-executor.js'
import type {ExecutorFactory} from '../../core/executor.js'
import {LOCAL_FLAVORS, localDockerConfigSchema, type LocalDockerConfig} from './local-docker-config.js'

export const localDockerExecutorFactory: ExecutorFactory<LocalDockerConfig> = {
  name: 'local-docker',
  description: 'each job on the local Docker engine (testing and development)',
  configSchema: localDockerConfigSchema,
  staticFlavors: LOCAL_FLAVORS,
  registration: {referenceFlavor: 'M', questions: []},
  // The implementation (HTTP over the socket, tar, build context) is loaded on first use.
  create: (runner, deps) => new LazyExecutor('local-docker', runner.uniqueName.toLowerCase(), async () => new (await import('./local-docker-executor.js')).LocalDockerExecutor(runner, deps)),
}

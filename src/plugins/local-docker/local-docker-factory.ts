import {LazyExecutor, defineExecutor, dockerName} from '@heptapod-paas-runner/plugin-api'

import {LOCAL_FLAVORS, localDockerConfigSchema} from './local-docker-config.js'

export const localDockerExecutorFactory = defineExecutor({
  name: 'local-docker',
  description: 'each job on the local Docker engine (testing and development)',
  audience: 'development',
  configSchema: localDockerConfigSchema,
  staticFlavors: LOCAL_FLAVORS,
  registration: {referenceFlavor: 'M', questions: []},
  // The implementation (HTTP over the socket, tar, build context) is loaded on first use.
  create: (runner, deps) =>
    new LazyExecutor(
      'local-docker',
      dockerName(runner.uniqueName),
      async () => new (await import('./local-docker-executor.js')).LocalDockerExecutor(runner, deps),
    ),
})

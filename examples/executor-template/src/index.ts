import {defineExecutor, DOCKER_RUNNER_FEATURES} from '@heptapod-paas-runner/plugin-api'

import {DIR_FLAVORS, dirConfigSchema} from './dir-config.js'
import {DirExecutor} from './dir-executor.js'

export {DirExecutor} from './dir-executor.js'
export * from './dir-config.js'

/**
 * What this plugin contributes. `create` gets `runner.executorConfig` typed from `dirConfigSchema`.
 * Keep `create` cheap: `status` and `quota` build executors too; load heavy code in the methods
 * (or wrap the executor in the SDK's `LazyExecutor`).
 */
export const dirExecutorFactory = defineExecutor({
  name: 'example-dir',
  description: 'example executor: each job in a directory (a template to copy, not for production)',
  audience: 'testing',
  configSchema: dirConfigSchema,
  staticFlavors: DIR_FLAVORS,
  // What GitLab is told of this executor's jobs (`info.executor`, `info.features`). Default: GitLab
  // Runner's docker executor. This toy PAAS runs no service containers: say so, GitLab then knows.
  innerRunner: {executor: 'docker', features: {...DOCKER_RUNNER_FEATURES, services: false}},
  registration: {
    referenceFlavor: 'M',
    questions: [
      {
        key: 'example_dir_root',
        kind: 'input',
        message: 'Directory for the jobs',
        validate: (v) => (v.trim() ? undefined : 'required'),
      },
    ],
  },
  create: (runner, deps) => new DirExecutor(runner, deps),
})

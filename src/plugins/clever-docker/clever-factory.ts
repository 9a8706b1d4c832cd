import {LazyExecutor, defineExecutor, makeFlavor} from '@heptapod-paas-runner/plugin-api'

import {CLEVER_SECRET_KEYS, cleverConfigSchema} from './clever-config.js'

export const cleverDockerExecutorFactory = defineExecutor({
  name: 'clever-docker',
  description: 'one Clever Cloud Docker application per job, deployed by git push',
  configSchema: cleverConfigSchema,
  secretKeys: CLEVER_SECRET_KEYS,
  // The implementation (HTTP client, git, build context) is loaded on first use.
  create: (runner, deps) =>
    new LazyExecutor(
      'clever-docker',
      runner.uniqueName,
      async () => new (await import('./clever-executor.js')).CleverDockerExecutor(runner, deps),
    ),
  registration: {
    referenceFlavor: 'M',
    maxFlavorKey: 'cc_max_flavor',
    // The heptapod-runner flavors Clever Cloud lists (clever-api.md §2.4), offered when the list cannot be fetched.
    knownFlavors: [
      ['XS', 2048, 1],
      ['S', 4096, 2],
      ['M', 8192, 4],
      ['L', 12288, 6],
      ['XL', 16384, 8],
      ['2XL', 24576, 12],
      ['3XL', 32768, 16],
    ].map(([n, m, c]) => makeFlavor(n as string, m as number, c as number)),
    defaults: {cc_extra_env: {CC_ENABLE_HEPTAPOD_RUNNER: 'true'}},
    questions: [
      {
        key: 'cc_multi_tenant',
        kind: 'choice',
        message: 'Which Clever Cloud organisation runs the jobs?',
        choices: [
          {name: 'one organisation for every job', value: false},
          {name: "multi-tenant: the organisation of each job's top-level group (custom attributes)", value: true},
        ],
      },
      {
        key: 'cc_orga_id',
        kind: 'input',
        message: 'Clever Cloud organisation id (orga_…)',
        when: (a) => a.cc_multi_tenant !== true,
        validate: (v) => (/^orga_\S+$/.test(v) ? undefined : 'an organisation id looks like orga_…'),
      },
      {
        key: 'cc_token',
        kind: 'secret',
        message: 'Clever Cloud API token of that organisation',
        when: (a) => a.cc_multi_tenant !== true,
      },
      {
        key: 'cc_gitlab_namespace_attributes_token',
        kind: 'secret',
        message: 'GitLab token able to read the custom attributes of top-level groups (administrator, read_api)',
        when: (a) => a.cc_multi_tenant === true,
      },
    ],
  },
})

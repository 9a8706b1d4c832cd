import {z} from 'zod'

import {RUNNER_KEYS, configKey, documented, shapeOf, tableSchema} from '@heptapod-paas-runner/plugin-api'

import {bounded} from './bounds.js'

/** `[quota_computation]`: the quota is the weight of N jobs of one flavor of one runner. */
const QUOTA_COMPUTATION_KEYS = {
  reference_runner: configKey('referenceRunner', documented(z.string().min(1), 'name of a `[[runners]]` section')),
  reference_flavor: configKey('referenceFlavor', documented(z.string().min(1), 'one of its flavors')),
  reference_jobs_count: configKey(
    'referenceJobsCount',
    documented(
      bounded({min: 0, max: 100_000, unit: 'jobs', minExclusive: true}),
      'how many jobs of that flavor the quota holds',
    ),
  ),
}

/**
 * The global keys of heptapod-paas-runner, declared once, with the defaults of the original:
 * TOML name → property of `Config`, schema (type, range, default) and doc line. `Config` is
 * derived from them (config-types.ts), and the README's "Global keys" table is checked against
 * them (test/unit/config-docs.test.ts).
 */
export const GLOBAL_KEYS = {
  concurrent: configKey(
    'concurrent',
    documented(
      bounded({min: 1, max: 10_000, unit: 'jobs', int: true}).default(50),
      'max jobs across all runners, including those whose resource is still being deleted',
    ),
  ),
  // Sub-second values are for tests and demos; above an hour a runner would look dead.
  check_interval: configKey(
    'checkInterval',
    documented(
      bounded({min: 0.1, max: 3600, unit: 'seconds'}).default(3),
      'seconds between polls of a runner that got no job',
    ),
  ),
  job_progress_poll_interval: configKey(
    'jobProgressPollInterval',
    documented(
      bounded({min: 0.1, max: 3600, unit: 'seconds'}).default(30),
      'seconds between two progress checks of one running job',
    ),
  ),
  paas_max_concurrent_provisioning: configKey(
    'maxConcurrentProvisioning',
    documented(
      bounded({min: 1, max: 10_000, unit: 'jobs', int: true}).default(10),
      'max jobs acquired but not yet confirmed started',
    ),
  ),
  paas_finished_jobs_keep_resources: configKey(
    'finishedJobsKeepResources',
    documented(
      z.boolean().default(false),
      'keep resources of finished jobs (their slot and weight are released anyway)',
    ),
  ),
  paas_decommission_launch_failures: configKey(
    'decommissionLaunchFailures',
    documented(z.boolean().default(true), 'delete resources of jobs that failed to launch'),
  ),
  paas_orphan_grace_period: configKey(
    'orphanGracePeriod',
    documented(
      z
        .number()
        .int('must be a whole number of seconds')
        .min(0, 'must be 0 (report only) or more seconds')
        .max(31_536_000, 'must be at most a year (31536000 seconds)')
        .default(600),
      'seconds an orphan (a resource with our marker that no record knows) is left alone before it is deleted; `0`: report only, never delete',
    ),
  ),
  state_file: configKey(
    'stateFile',
    documented(
      z.string().min(1).optional(),
      'durable job records; one daemon per state file (locked)',
      '`<config name>.state.json` next to the config file',
    ),
  ),
  state_url: configKey(
    'stateUrl',
    documented(
      z
        .string()
        .regex(
          /^postgres(ql)?:\/\/[^\s]+$/,
          'must be a PostgreSQL URL such as "postgresql://runner@db.example:5432/heptapod"',
        )
        .optional(),
      '`postgresql://user@host:port/db?…`: keep the job records in PostgreSQL instead of a file (see [PostgreSQL state store](#postgresql-state-store)); a configuration error together with `state_file`',
      'off',
    ),
  ),
  state_schema: configKey(
    'stateSchema',
    documented(
      z
        .string()
        .regex(
          /^[a-z_][a-z0-9_]{0,62}$/,
          'must be a lower-case SQL identifier (letters, digits, _; at most 63 characters)',
        )
        .default('heptapod_paas_runner'),
      'the PostgreSQL schema of those records, created and migrated by the daemon (a lower-case SQL identifier)',
    ),
  ),
  quota_computation: configKey(
    'quotaComputation',
    tableSchema(QUOTA_COMPUTATION_KEYS, {
      description:
        'the quota is the weight of `reference_jobs_count` jobs of the flavor `reference_flavor` of the runner `reference_runner`',
      error: (iss) => (iss.input === undefined ? 'the [quota_computation] section is mandatory' : 'must be a table'),
    }),
    QUOTA_COMPUTATION_KEYS,
  ),
  listen_address: configKey(
    'listenAddress',
    documented(
      z
        .string()
        .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]*):\d{1,5}$/, 'must be host:port, e.g. "127.0.0.1:9252" or ":9252"')
        .refine((a) => {
          const port = Number(a.slice(a.lastIndexOf(':') + 1))
          return port >= 1 && port <= 65535
        }, 'the port must be from 1 to 65535')
        .optional(),
      '`host:port` for metrics and status, as in GitLab Runner (port 1 … 65535; an empty host is 127.0.0.1)',
      'off',
    ),
  ),
  log_level: configKey(
    'logLevel',
    documented(
      z
        .enum(['trace', 'debug', 'info', 'warn', 'warning', 'error', 'fatal', 'panic'])
        .default('info')
        .transform((l) => (l === 'warning' ? 'warn' : l === 'panic' ? 'fatal' : l)),
      "`trace`, `debug`, `info`, `warn`, `error`, `fatal` (and GitLab's `warning`, `panic`)",
    ),
  ),
}

/** The whole file's schema: the global keys, and the runners' tables (each parsed on its own). */
export const globalSchema = z.object({
  ...shapeOf(GLOBAL_KEYS),
  runners: z
    .array(z.record(z.string(), z.unknown()), {
      error: (iss) =>
        iss.input === undefined ? 'at least one [[runners]] section is required' : 'must be an array of tables',
    })
    .min(1, 'at least one [[runners]] section is required'),
})

/** Our own global keys (the GitLab ones are in gitlab-runner-keys.ts). */
export const OWN_GLOBAL_KEYS: readonly string[] = Object.keys(globalSchema.shape)

/** Keys common to every `[[runners]]` section, whatever its executor (declared in the SDK: `RUNNER_KEYS`). */
export const commonRunnerSchema = z.object(shapeOf(RUNNER_KEYS))

export const OWN_RUNNER_KEYS: readonly string[] = Object.keys(RUNNER_KEYS)

export {NOT_FORWARDED_RUNNER_KEYS, RUNNER_KEYS} from '@heptapod-paas-runner/plugin-api'

import {z} from 'zod'

import {bounded} from './bounds.js'

/** Global keys of heptapod-paas-runner, with the defaults of the original. */
export const globalSchema = z.object({
  concurrent: bounded({min: 1, max: 10_000, unit: 'jobs', int: true}).default(50),
  // Sub-second values are for tests and demos; above an hour a runner would look dead.
  check_interval: bounded({min: 0.1, max: 3600, unit: 'seconds'}).default(3),
  job_progress_poll_interval: bounded({min: 0.1, max: 3600, unit: 'seconds'}).default(30),
  paas_max_concurrent_provisioning: bounded({min: 1, max: 10_000, unit: 'jobs', int: true}).default(10),
  paas_finished_jobs_keep_resources: z.boolean().default(false),
  paas_decommission_launch_failures: z.boolean().default(true),
  /** Seconds an orphan (our marker, no record) is left alone before deletion; 0: report only, never delete. */
  paas_orphan_grace_period: z
    .number()
    .int('must be a whole number of seconds')
    .min(0, 'must be 0 (report only) or more seconds')
    .max(31_536_000, 'must be at most a year (31536000 seconds)')
    .default(600),
  state_file: z.string().min(1).optional(),
  /** PostgreSQL state store (`postgresql://user@host:port/db?…`); exclusive with `state_file`. */
  state_url: z
    .string()
    .regex(
      /^postgres(ql)?:\/\/[^\s]+$/,
      'must be a PostgreSQL URL such as "postgresql://runner@db.example:5432/heptapod"',
    )
    .optional(),
  /** Schema of the PostgreSQL state store, created and migrated by the daemon. */
  state_schema: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case SQL identifier (letters, digits, _; at most 63 characters)')
    .default('heptapod_paas_runner'),
  /** Seconds a daemon of a PostgreSQL cluster holds its lease without renewing it; its jobs are adopted after. */
  cluster_lease_seconds: bounded({min: 3, max: 3600, unit: 'seconds', int: true}).default(30),
  quota_computation: z.object(
    {
      reference_runner: z.string().min(1),
      reference_flavor: z.string().min(1),
      reference_jobs_count: bounded({min: 0, max: 100_000, unit: 'jobs', minExclusive: true}),
    },
    {error: (iss) => (iss.input === undefined ? 'the [quota_computation] section is mandatory' : 'must be a table')},
  ),
  listen_address: z
    .string()
    .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]*):\d{1,5}$/, 'must be host:port, e.g. "127.0.0.1:9252" or ":9252"')
    .refine((a) => {
      const port = Number(a.slice(a.lastIndexOf(':') + 1))
      return port >= 1 && port <= 65535
    }, 'the port must be from 1 to 65535')
    .optional(),
  log_level: z
    .enum(['trace', 'debug', 'info', 'warn', 'warning', 'error', 'fatal', 'panic'])
    .default('info')
    .transform((l) => (l === 'warning' ? 'warn' : l === 'panic' ? 'fatal' : l)),
  runners: z
    .array(z.record(z.string(), z.unknown()), {
      error: (iss) =>
        iss.input === undefined ? 'at least one [[runners]] section is required' : 'must be an array of tables',
    })
    .min(1, 'at least one [[runners]] section is required'),
})

/** Our own global keys (the GitLab ones are in gitlab-runner-keys.ts). */
export const OWN_GLOBAL_KEYS: readonly string[] = Object.keys(globalSchema.shape)

const tomlDate = z.union([z.string(), z.date()]).transform((v) => (typeof v === 'string' ? v : v.toISOString()))

export const traceWatchSchema = z.strictObject({
  token: z.string().min(1).optional(),
  timeout_seconds: bounded({min: 1, max: 86_400, unit: 'seconds'}).default(300),
  poll_step: bounded({min: 0.1, max: 3600, unit: 'seconds'}).default(10),
})

/** Keys common to every `[[runners]]` section, whatever its executor. */
export const commonRunnerSchema = z.object({
  name: z.string().min(1).optional(),
  url: z
    .string({
      error: (iss) => (iss.input === undefined ? 'required: the GitLab / Heptapod base URL' : 'must be a string'),
    })
    .refine((u) => /^https?:\/\/[^\s/]+/.test(u), 'must be an http(s) URL such as "https://gitlab.example.com"')
    .refine((u) => !/^https?:\/\/[^/]*@/.test(u), 'must not contain credentials'),
  token: z
    .string({
      error: (iss) => (iss.input === undefined ? 'required: the runner authentication token' : 'must be a string'),
    })
    .min(8, 'is too short to be a runner token (at least 8 characters)'),
  executor: z.string({error: (iss) => (iss.input === undefined ? 'required' : 'must be a string')}),
  id: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
  token_obtained_at: tomlDate.optional(),
  token_expires_at: tomlDate.optional(),
  paas_job_trace_watch: traceWatchSchema.optional(),
  heptapod_runner_main_image: z.string().min(1).optional(),
})

export const OWN_RUNNER_KEYS: readonly string[] = Object.keys(commonRunnerSchema.shape)

/** Keys of the runner that belong to the PAAS runner and never reach the inner runner. */
export const NOT_FORWARDED_RUNNER_KEYS: readonly string[] = [
  'paas_job_trace_watch',
  'job_trace_watch',
  'heptapod_runner_main_image',
]

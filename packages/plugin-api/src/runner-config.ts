import {z} from 'zod'

import {bounded} from './config-bounds.js'
import {configKey, documented, tableSchema, type ConfigOf} from './config-keys.js'

const tomlDate = z.union([z.string(), z.date()]).transform((v) => (typeof v === 'string' ? v : v.toISOString()))

/** `[runners.paas_job_trace_watch]`: watch the job log to know when the job really started. */
export const TRACE_WATCH_KEYS = {
  token: configKey(
    'token',
    documented(
      z.string().min(1).optional(),
      "GitLab token of a member (Reporter or more) of the jobs' projects, with `read_api`; a token that cannot see a project fails the launch of its jobs at once. Without it, a job counts as started once pushed",
    ),
  ),
  timeout_seconds: configKey(
    'timeoutSeconds',
    documented(
      bounded({min: 1, max: 86_400, unit: 'seconds'}).default(300),
      'seconds after which a job that wrote nothing in its log is a launch failure',
    ),
  ),
  poll_step: configKey(
    'pollStep',
    documented(bounded({min: 0.1, max: 3600, unit: 'seconds'}).default(10), 'seconds between two reads of the job log'),
  ),
}

/** `paas_job_trace_watch`, parsed. */
export type TraceWatchConfig = ConfigOf<typeof TRACE_WATCH_KEYS>

/**
 * The keys common to every `[[runners]]` section, whatever its executor, declared once: the host
 * parses them with these schemas, `RunnerConfig` is their parsed type, and the README's table is
 * checked against their doc lines.
 */
export const RUNNER_KEYS = {
  name: configKey('name', documented(z.string().min(1).optional(), 'human name, used by `[quota_computation]`')),
  url: configKey(
    'url',
    documented(
      z
        .string({
          error: (iss) => (iss.input === undefined ? 'required: the GitLab / Heptapod base URL' : 'must be a string'),
        })
        .refine((u) => /^https?:\/\/[^\s/]+/.test(u), 'must be an http(s) URL such as "https://gitlab.example.com"')
        .refine((u) => !/^https?:\/\/[^/]*@/.test(u), 'must not contain credentials'),
      'coordinator base URL (without `/api/v4`)',
    ),
  ),
  token: configKey(
    'token',
    documented(
      z
        .string({
          error: (iss) => (iss.input === undefined ? 'required: the runner authentication token' : 'must be a string'),
        })
        .min(8, 'is too short to be a runner token (at least 8 characters)'),
      'runner authentication token (secret); its short token (see _Runner identity_) names the resources (`hpd-job-<short token>-<job id>`)',
    ),
  ),
  executor: configKey(
    'executor',
    documented(
      z.string({error: (iss) => (iss.input === undefined ? 'required' : 'must be a string')}),
      "`clever-docker`, `local-docker`, or an executor plugin's name (`heptapod-paas-runner executors` lists them)",
    ),
  ),
  id: configKey(
    'id',
    documented(
      z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
      'runner id in GitLab, as written by registration',
    ),
  ),
  token_obtained_at: configKey('tokenObtainedAt', documented(tomlDate.optional(), 'as written by registration')),
  token_expires_at: configKey('tokenExpiresAt', documented(tomlDate.optional(), 'as written by registration')),
  paas_job_trace_watch: configKey(
    'traceWatch',
    tableSchema(TRACE_WATCH_KEYS, {
      description: 'watch the job log to know the job really started',
      strict: true,
    }).optional(),
    TRACE_WATCH_KEYS,
  ),
  heptapod_runner_main_image: configKey(
    'mainImage',
    documented(z.string().min(1).optional(), 'base image of the Dockerfile pushed to the resource'),
  ),
}

/** Keys of the runner that belong to the PAAS runner and never reach the inner runner. */
export const NOT_FORWARDED_RUNNER_KEYS: readonly string[] = [
  'paas_job_trace_watch',
  'job_trace_watch',
  'heptapod_runner_main_image',
]

/**
 * One `[[runners]]` section, validated by the host: the common keys (`RUNNER_KEYS`), and what the
 * host adds. `E` is the type of the executor's own keys: the host parses them with the factory's
 * `configSchema` and hands them over as `executorConfig`.
 */
export type RunnerConfig<E extends Record<string, unknown> = Record<string, unknown>> = ConfigOf<typeof RUNNER_KEYS> & {
  /** 0-based position in the file, as in `runners[0]`. */
  index: number
  /**
   * The runner's short token (9 characters after `glrt-`, or the first 8 of a legacy token): prefix
   * of resource names, key of the state, part of the ownership marker. Stable across restarts.
   */
  uniqueName: string
  /** The executor's own keys, parsed by its `configSchema` (defaults applied). */
  executorConfig: E
  /** Standard GitLab Runner keys, kept verbatim for the inner runner (no PAAS key, no executor key). */
  forwarded: Record<string, unknown>
}

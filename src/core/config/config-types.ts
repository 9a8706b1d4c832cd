import type {ConfigIssue} from '../errors.js'
import type {QuotaComputation} from '../quota/quota.js'

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'

/** `paas_job_trace_watch`: watch the job log to know when the job really started. */
export interface TraceWatchConfig {
  /** GitLab token with `read_api` that can read job logs. Without it, a job counts as started once pushed. */
  token?: string
  /** Seconds after which a job that wrote nothing is a launch failure. Default 300. */
  timeoutSeconds: number
  /** Seconds between two reads of the job log. Default 10. */
  pollStep: number
}

/** One `[[runners]]` section, validated. */
export interface RunnerConfig<E extends Record<string, unknown> = Record<string, unknown>> {
  /** 0-based position in the file, as in `runners[0]`. */
  index: number
  name?: string
  /** Coordinator base URL (without `/api/v4`). */
  url: string
  /** Runner authentication token. Secret. */
  token: string
  executor: string
  /** Runner id in GitLab, as written by `register`. */
  id?: number
  tokenObtainedAt?: string
  tokenExpiresAt?: string
  traceWatch?: TraceWatchConfig
  /** Base image of the Dockerfile pushed to the resource (`heptapod_runner_main_image`). */
  mainImage?: string
  /** The runner's short token (`shortToken`): prefix of resource names, key of the state, part of the ownership marker. */
  uniqueName: string
  /** The executor's own keys, parsed by its schema (defaults applied). */
  executorConfig: E
  /** Standard GitLab Runner keys, kept verbatim for the inner runner (no PAAS key, no executor key). */
  forwarded: Record<string, unknown>
}

/** The whole configuration file, validated. Durations are in seconds. */
export interface Config {
  file: string
  /** Max jobs across all runners, including those whose resource is still being deleted. Default 50. */
  concurrent: number
  /** Seconds between polls of a runner that got no job. Default 3. */
  checkInterval: number
  /** Seconds between two progress checks of the same running job. Default 30. */
  jobProgressPollInterval: number
  /** Max jobs acquired but not yet confirmed started. Default 10. */
  maxConcurrentProvisioning: number
  /** Keep resources of finished jobs (their slot and weight are released anyway). Default false. */
  finishedJobsKeepResources: boolean
  /** Delete resources of jobs that failed to launch. Default true. */
  decommissionLaunchFailures: boolean
  /** Seconds an orphan (our marker, no record) waits before deletion; 0 = report only. Default 600. */
  orphanGracePeriod: number
  /** Durable job records: the file journal, used when `stateUrl` is absent. */
  stateFile: string
  /** PostgreSQL state store (`state_url`); when set, `stateFile` is not used. */
  stateUrl?: string
  /** Schema of the PostgreSQL state store. Default `heptapod_paas_runner`. */
  stateSchema: string
  quotaComputation: QuotaComputation
  /** `host:port` for /metrics, /status and /healthz; off when absent. */
  listenAddress?: string
  logLevel: LogLevel
  runners: RunnerConfig[]
  /** Deprecations and unknown keys: the config loads, but the operator should know. */
  warnings: ConfigIssue[]
}

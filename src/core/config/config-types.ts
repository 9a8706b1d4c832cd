import type {ConfigIssue} from '../errors.js'
import type {QuotaComputation} from '../quota/quota.js'

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'

import type {RunnerConfig} from '@heptapod-paas-runner/plugin-api'

/** A runner's section is part of the SDK: executors receive it in `create`. */
export type {RunnerConfig, TraceWatchConfig} from '@heptapod-paas-runner/plugin-api'

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
  /** Lease of a daemon in a PostgreSQL cluster (`cluster_lease_seconds`), renewed every third of it. Default 30. */
  clusterLeaseSeconds: number
  quotaComputation: QuotaComputation
  /** `host:port` for /metrics, /status and /healthz; off when absent. */
  listenAddress?: string
  logLevel: LogLevel
  runners: RunnerConfig[]
  /** Deprecations and unknown keys: the config loads, but the operator should know. */
  warnings: ConfigIssue[]
}

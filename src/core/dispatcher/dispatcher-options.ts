/** Tunables of the dispatcher that are not in the config file. All durations in ms. */
export interface DispatcherOptions {
  /** Launch-failure report: attempts and the wait between them (original: 3 × 30 s). */
  reportAttempts: number
  reportRetryDelayMs: number
  /** Failed deletes: first retry delay and cap of the exponential backoff. */
  deleteRetryBaseMs: number
  deleteRetryMaxMs: number
  /** A resource whose delete keeps failing stops counting against the limits after this long (still retried). */
  deleteHoldMs: number
  /** Orphan sweep period (the grace period is the config's `paas_orphan_grace_period`). */
  sweepIntervalMs: number
  /** Backoff of a runner's intake after coordinator errors. */
  intakeBackoffBaseMs: number
  intakeBackoffMaxMs: number
  /** Pause after the runner token was refused (GitLab Runner pauses for an hour; we re-check sooner). */
  tokenRevokedPauseMs: number
  /** Retry period while the quota cannot be computed (flavors API down). */
  quotaRetryMs: number
  /** Stop each runner's intake after this many polling cycles (`--poll-cycles`, tests). */
  maxPollCycles?: number
  /** Start even when the quota can never hold a runner's heaviest flavor (`run --allow-idle`). */
  allowIdle?: boolean
  /** Progress checks in flight at once (half of it at most per GitLab instance). */
  progressConcurrency: number
  /** Upper bound of a graceful shutdown: systemd kills us at 120 s. */
  shutdownTimeoutMs: number
  /** In a cluster, a runner refused by the shared ledger asks it again after this long (other daemons release capacity without telling us). */
  clusterRetryMs: number
}

export const DEFAULT_DISPATCHER_OPTIONS: DispatcherOptions = {
  reportAttempts: 3,
  reportRetryDelayMs: 30_000,
  deleteRetryBaseMs: 5_000,
  deleteRetryMaxMs: 300_000,
  deleteHoldMs: 600_000,
  sweepIntervalMs: 600_000,
  intakeBackoffBaseMs: 1_000,
  intakeBackoffMaxMs: 60_000,
  tokenRevokedPauseMs: 300_000,
  quotaRetryMs: 10_000,
  shutdownTimeoutMs: 100_000,
  progressConcurrency: 8,
  clusterRetryMs: 1_000,
}

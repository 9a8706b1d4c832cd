import {isDeepStrictEqual} from 'node:util'

import type {Config, RunnerConfig} from '../config/config-types.js'

/** A limit whose value a reload changes, for the log line. */
export interface LimitChange {
  key: string
  from: unknown
  to: unknown
}

/**
 * What a reloaded configuration changes, runner by runner (by short token, which keys the
 * state) and limit by limit. Pure: the daemon and the dispatcher both derive it.
 */
export interface ReloadPlan {
  /** Runners that were not in the running configuration: they start polling. */
  added: RunnerConfig[]
  /** Short tokens of runners no longer configured: they stop taking jobs and finish theirs. */
  removed: string[]
  /** Runners whose section changed: new executor, same jobs. */
  changed: RunnerConfig[]
  /** Runners whose section is the same (their executor, and its caches, are kept). */
  unchanged: RunnerConfig[]
  /** Global limits that change at once (`concurrent`, intervals, the quota…). */
  limits: LimitChange[]
  /** `[quota_computation]` or its reference runner changed: the quota is computed again. */
  quotaChanged: boolean
  /** Keys whose change needs a restart; the running value is kept (and said so). */
  needsRestart: LimitChange[]
}

const LIVE_LIMITS = [
  ['concurrent', 'concurrent'],
  ['check_interval', 'checkInterval'],
  ['job_progress_poll_interval', 'jobProgressPollInterval'],
  ['paas_max_concurrent_provisioning', 'maxConcurrentProvisioning'],
  ['paas_finished_jobs_keep_resources', 'finishedJobsKeepResources'],
  ['paas_decommission_launch_failures', 'decommissionLaunchFailures'],
  ['paas_orphan_grace_period', 'orphanGracePeriod'],
  ['quota_computation', 'quotaComputation'],
] as const satisfies ReadonlyArray<readonly [string, keyof Config]>

/** Changing these under a running daemon would break an invariant (the lock, a bound port): restart. */
const RESTART_KEYS = [
  ['state_file', 'stateFile'],
  ['listen_address', 'listenAddress'],
  ['log_level', 'logLevel'],
] as const satisfies ReadonlyArray<readonly [string, keyof Config]>

/** A runner's section without its position: moving a section in the file changes nothing. */
function sameRunner(a: RunnerConfig, b: RunnerConfig): boolean {
  const {index: _a, ...ra} = a
  const {index: _b, ...rb} = b
  void _a
  void _b
  return isDeepStrictEqual(ra, rb)
}

export function planReload(current: Config, next: Config): ReloadPlan {
  const before = new Map(current.runners.map((r) => [r.uniqueName, r]))
  const after = new Set(next.runners.map((r) => r.uniqueName))
  const added: RunnerConfig[] = []
  const changed: RunnerConfig[] = []
  const unchanged: RunnerConfig[] = []
  for (const r of next.runners) {
    const old = before.get(r.uniqueName)
    if (!old) added.push(r)
    else if (sameRunner(old, r)) unchanged.push(r)
    else changed.push(r)
  }
  const removed = current.runners.filter((r) => !after.has(r.uniqueName)).map((r) => r.uniqueName)
  const diff = (keys: ReadonlyArray<readonly [string, keyof Config]>): LimitChange[] =>
    keys
      .filter(([, k]) => !isDeepStrictEqual(current[k], next[k]))
      .map(([key, k]) => ({key, from: current[k], to: next[k]}))
  const limits = diff(LIVE_LIMITS)
  const refName = next.quotaComputation.referenceRunner
  const refChanged =
    [...added, ...changed].some((r) => r.name === refName) ||
    current.runners.find((r) => r.name === refName)?.uniqueName !==
      next.runners.find((r) => r.name === refName)?.uniqueName
  return {
    added,
    removed,
    changed,
    unchanged,
    limits,
    quotaChanged: refChanged || limits.some((l) => l.key === 'quota_computation'),
    needsRestart: diff(RESTART_KEYS),
  }
}

/** One line for the log: `added r2; removed abc123; concurrent 10 → 20`. */
export function describeReload(p: ReloadPlan): string {
  const parts: string[] = []
  const label = (r: RunnerConfig): string => (r.name ? `'${r.name}'` : r.uniqueName)
  if (p.added.length) parts.push(`added ${p.added.map(label).join(', ')}`)
  if (p.removed.length) parts.push(`removed ${p.removed.join(', ')} (they finish their jobs)`)
  if (p.changed.length) parts.push(`changed ${p.changed.map(label).join(', ')}`)
  for (const l of p.limits) parts.push(`${l.key} ${JSON.stringify(l.from)} → ${JSON.stringify(l.to)}`)
  return parts.length ? parts.join('; ') : 'nothing changed'
}

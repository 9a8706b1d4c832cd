import type {Config} from '../config/config-types.js'
import type {DispatcherSnapshot, JobSnapshot} from '../events.js'
import {PROVISIONING_PHASES, type JobRecord} from '../state/job-record.js'
import type {JobStateView} from '../state/state-port.js'

/** A job record as status, metrics and the TUI show it: no token, no payload. */
export function jobSnapshot(
  r: JobRecord,
  runnerName: string | null,
  redact: (s: string) => string = (s) => s,
): JobSnapshot {
  return {
    runner: r.runner,
    runnerName,
    jobId: r.jobId,
    projectId: r.projectId ?? null,
    projectName: r.projectName ?? null,
    phase: r.phase,
    flavor: r.flavor ?? null,
    weight: r.weight,
    acquiredAt: r.acquiredAt,
    phaseSince: r.phaseSince,
    resourceId: r.resourceId ?? null,
    deleteAttempts: r.deleteAttempts ?? 0,
    failure: r.failure === undefined ? null : redact(r.failure),
  }
}

/**
 * A snapshot built from the state file alone, for `status` when no daemon answers:
 * jobs and their phases are exact; live figures (intake, reservations, quota) are unknown.
 */
export function snapshotFromState(config: Config, store: JobStateView, now: number, why: string): DispatcherSnapshot {
  const names = new Map(config.runners.map((r) => [r.uniqueName, r.name ?? null]))
  const jobs = [...store.records.values()]
    .map((r) => jobSnapshot(r, names.get(r.runner) ?? null))
    .sort((a, b) => a.jobId - b.jobId)
  return {
    at: now,
    startedAt: now,
    quota: {total: null, explanation: null, used: jobs.reduce((w, j) => w + j.weight, 0), reserved: 0},
    concurrent: {limit: config.concurrent, used: jobs.length},
    provisioning: {
      limit: config.maxConcurrentProvisioning,
      used: jobs.filter((j) => PROVISIONING_PHASES.has(j.phase)).length,
    },
    runners: config.runners.map((r) => ({
      runner: r.uniqueName,
      name: r.name ?? null,
      url: r.url,
      executor: r.executor,
      intake: {state: 'stopped' as const, reason: why},
      minRequestableWeight: null,
    })),
    jobs,
    pendingDeletions: jobs.filter((j) => j.phase === 'decommissioning' && j.deleteAttempts > 0).length,
    orphansMarked: store.orphans.size,
    unmarkedResources: null,
    keptResources: store.kept.size,
    totals: {acquired: 0, launched: 0, finished: 0, launchFailed: 0, decommissioned: 0},
    recentFailures: jobs
      .filter((j) => j.failure)
      .map((j) => ({runner: j.runner, jobId: j.jobId, reason: j.failure!, at: j.phaseSince})),
    stopping: false,
  }
}

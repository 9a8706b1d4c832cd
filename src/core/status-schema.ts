import {z} from 'zod'

import {intakeBlockerSchema} from './quota/admission.js'
import {JOB_PHASES} from './state/job-record.js'

/**
 * The snapshot, defined once: `status --json` prints it, `/status` serves it, the TUI and the
 * metrics read it, and its types (DispatcherSnapshot, JobSnapshot, RunnerSnapshot, IntakeState)
 * are derived from these schemas, so a consumer can validate exactly what the daemon builds.
 */

/** What a runner's intake is doing right now. */
export const intakeStateSchema = z.union([
  z.object({state: z.enum(['starting', 'polling', 'long-polling'])}),
  z.object({state: z.literal('paused'), reason: z.string(), blocker: intakeBlockerSchema}),
  z.object({state: z.literal('backoff'), reason: z.string(), until: z.number()}),
  /** `code`: why, as data (`poll_cycles`, `flavor_config`, `quota_too_small`). */
  z.object({state: z.literal('stopped'), reason: z.string(), code: z.string().optional()}),
])
export type IntakeState = z.infer<typeof intakeStateSchema>

/** One job, as status, metrics and the TUI show it. No token. */
export const jobSnapshotSchema = z.object({
  runner: z.string(),
  runnerName: z.string().nullable(),
  jobId: z.number(),
  projectId: z.number().nullable(),
  projectName: z.string().nullable(),
  phase: z.enum(JOB_PHASES),
  flavor: z.string().nullable(),
  weight: z.number(),
  acquiredAt: z.number(),
  phaseSince: z.number(),
  resourceId: z.string().nullable(),
  deleteAttempts: z.number(),
  failure: z.string().nullable(),
})
export type JobSnapshot = z.infer<typeof jobSnapshotSchema>

export const runnerSnapshotSchema = z.object({
  runner: z.string(),
  name: z.string().nullable(),
  url: z.string(),
  executor: z.string(),
  intake: intakeStateSchema,
  minRequestableWeight: z.number().nullable(),
})
export type RunnerSnapshot = z.infer<typeof runnerSnapshotSchema>

/** The whole picture at one moment. */
export const snapshotSchema = z.object({
  at: z.number(),
  startedAt: z.number(),
  quota: z.object({
    total: z.number().nullable(),
    explanation: z.string().nullable(),
    used: z.number(),
    reserved: z.number(),
  }),
  concurrent: z.object({limit: z.number(), used: z.number()}),
  provisioning: z.object({limit: z.number(), used: z.number()}),
  runners: z.array(runnerSnapshotSchema),
  jobs: z.array(jobSnapshotSchema),
  pendingDeletions: z.number(),
  orphansMarked: z.number(),
  /**
   * Resources named like ours without an ownership marker (the original's apps, a person's):
   * reported, never deleted. Null when unknown (read from the state file, no daemon running).
   */
  unmarkedResources: z.array(z.object({runner: z.string(), resourceId: z.string(), name: z.string()})).nullable(),
  keptResources: z.number(),
  totals: z.object({
    acquired: z.number(),
    launched: z.number(),
    finished: z.number(),
    launchFailed: z.number(),
    decommissioned: z.number(),
  }),
  recentFailures: z.array(z.object({runner: z.string(), jobId: z.number(), reason: z.string(), at: z.number()})),
  stopping: z.boolean(),
})
export type DispatcherSnapshot = z.infer<typeof snapshotSchema>

/** What `status` shows: the snapshot and where it came from. */
export const statusReportSchema = z.object({
  source: z.enum(['daemon', 'state-file', 'database']),
  /** `http://host:port/status`, or the state file path. */
  from: z.string(),
  snapshot: snapshotSchema,
})

export type StatusReport = z.infer<typeof statusReportSchema>

import {z} from 'zod'

/**
 * The snapshot as `status --json` prints it and `/status` serves it: one schema for both,
 * so a consumer can validate either. Mirrors DispatcherSnapshot (events.ts).
 */
const intake = z.union([
  z.object({state: z.enum(['starting', 'polling', 'long-polling'])}),
  z.object({state: z.literal('paused'), reason: z.string(), blocker: z.looseObject({kind: z.string()})}),
  z.object({state: z.literal('backoff'), reason: z.string(), until: z.number()}),
  z.object({state: z.literal('stopped'), reason: z.string(), code: z.string().optional()}),
])

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
  runners: z.array(
    z.object({
      runner: z.string(),
      name: z.string().nullable(),
      url: z.string(),
      executor: z.string(),
      intake,
      minRequestableWeight: z.number().nullable(),
    }),
  ),
  jobs: z.array(
    z.object({
      runner: z.string(),
      runnerName: z.string().nullable(),
      jobId: z.number(),
      projectId: z.number().nullable(),
      projectName: z.string().nullable(),
      phase: z.string(),
      flavor: z.string().nullable(),
      weight: z.number(),
      acquiredAt: z.number(),
      phaseSince: z.number(),
      resourceId: z.string().nullable(),
      deleteAttempts: z.number(),
      failure: z.string().nullable(),
    }),
  ),
  pendingDeletions: z.number(),
  orphansMarked: z.number(),
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

/** The daemons of a PostgreSQL cluster and which holds which job, as the database says. */
export const clusterViewSchema = z.object({
  daemons: z.array(
    z.object({
      id: z.string(),
      host: z.string(),
      pid: z.number(),
      startedAt: z.number(),
      renewedAt: z.number(),
      leaseUntil: z.number(),
      /** live: the lease runs; expired: not renewed in time (its jobs are adopted); left: stopped gracefully. */
      state: z.enum(['live', 'expired', 'left']),
      jobs: z.number(),
    }),
  ),
  /** `runner/jobId` → the daemon holding it (null: nobody yet; the first live daemon adopts it). */
  holders: z.record(z.string(), z.string().nullable()),
  sweeper: z.string().nullable(),
})

/** What `status` shows: the snapshot and where it came from. */
export const statusReportSchema = z.object({
  source: z.enum(['daemon', 'state-file', 'database']),
  /** `http://host:port/status`, or the state file path. */
  from: z.string(),
  snapshot: snapshotSchema,
  /** With state_url, read from the database when no daemon answers. */
  cluster: clusterViewSchema.optional(),
})

export type ClusterView = z.infer<typeof clusterViewSchema>

export type StatusReport = z.infer<typeof statusReportSchema>

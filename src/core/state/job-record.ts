import type {Json} from '../executor.js'
import type {JobPayload} from '../job-payload.js'

/**
 * Where a job stands. Each phase is persisted *before* the side effect it announces,
 * so that after a crash the job resumes where it stood and nothing is done twice:
 *
 * acquired → provisioning → provisioned → launching → launched → running → finished → decommissioning → (gone)
 *                 └──────────────┴────────────┴───────────┘→ reporting ─→ decommissioning
 */
export type JobPhase =
  | 'acquired' // taken from GitLab; weight counted; nothing created yet
  | 'provisioning' // intent: the resource is being created (provision is idempotent per job)
  | 'provisioned' // the resource exists
  | 'launching' // intent: the job is being handed over (launch is idempotent)
  | 'launched' // handed over; waiting for the job to show life in its log
  | 'running' // confirmed running; progress is polled
  | 'reporting' // could not launch: the reason goes to the job log, the job is reported failed
  | 'finished' // over in GitLab; the resource must go
  | 'decommissioning' // intent: the resource is being deleted

/** Phases in which a job counts against `paas_max_concurrent_provisioning`. */
export const PROVISIONING_PHASES: ReadonlySet<JobPhase> = new Set(['acquired', 'provisioning', 'provisioned', 'launching', 'launched'])

export interface JobRecord {
  /** Runner unique name (first 8 chars of its token). */
  runner: string
  jobId: number
  /** Job token. Secret: the state file is 0600 and no dump prints it. */
  jobToken: string
  phase: JobPhase
  /** Weight counted against the quota: expected until the resource exists, then the resource's. */
  weight: number
  expectedWeight: number
  /**
   * Imported from an old dump that gave no weight: the dispatcher counts the heaviest flavor the
   * runner may get until it knows better, so an upgrade can never overrun the quota.
   */
  weightUnknown?: boolean
  flavor?: string
  projectId?: number
  projectName?: string
  /** The job payload, kept until the job is launched (a restart may need to launch it again). */
  payload?: JobPayload
  /** Executor dump of the resource, once it exists. */
  resource?: Json
  resourceId?: string
  resourceName?: string
  /** Bytes of the job log written by us (our red failure lines), for the launch watch. */
  traceOffset: number
  /** Why the launch failed (phase `reporting`), one line for the job log. */
  failure?: string
  /** The failure line was written to the job log (not again after a restart). */
  failureLogged?: boolean
  /** The job was canceled or finished in GitLab before it ran. */
  canceled?: boolean
  acquiredAt: number
  phaseSince: number
  launchedAt?: number
  /** Failed delete attempts so far. */
  deleteAttempts?: number
  lastDeleteError?: string
}

export function recordKey(runner: string, jobId: number): string {
  return `${runner}/${jobId}`
}

/** A resource no record knows, seen by the orphan sweep. */
export interface OrphanMark {
  runner: string
  resourceId: string
  name: string
  jobId?: number
  firstSeenAt: number
  resource: Json
}

/** A resource left in place on purpose (kept finished job, failed launch kept for inspection). */
export interface KeptResource {
  runner: string
  resourceId: string
  name: string
  jobId: number
  reason: string
  at: number
}

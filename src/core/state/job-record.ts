import type {Json} from '../executor.js'
import type {JobPayload} from '../job-payload.js'

/**
 * The phase table: where a job stands, and what each phase means for the limits and for the
 * progress loop. Each phase is persisted *before* the side effect it announces, so that after a
 * crash the job resumes where it stood and nothing is done twice:
 *
 * acquired → provisioning → provisioned → launching → launched → running → finished → decommissioning → (gone)
 *                 └──────────────┴────────────┴───────────┘→ reporting ─→ decommissioning
 *
 * - `provisioning`: counts against `paas_max_concurrent_provisioning`.
 * - `polled`: its status is polled from GitLab (finished? canceled?).
 * - `preRunning`: a cancellation in GitLab stops its pipeline and deletes the resource early.
 */
export const PHASES = {
  acquired: {provisioning: true, polled: false, preRunning: true}, // taken from GitLab; weight counted; nothing created yet
  provisioning: {provisioning: true, polled: true, preRunning: true}, // intent: the resource is being created (idempotent per job)
  provisioned: {provisioning: true, polled: true, preRunning: true}, // the resource exists
  launching: {provisioning: true, polled: true, preRunning: true}, // intent: the job is being handed over (idempotent)
  launched: {provisioning: true, polled: true, preRunning: true}, // handed over; waiting for the job to show life in its log
  running: {provisioning: false, polled: true, preRunning: false}, // confirmed running; progress is polled
  reporting: {provisioning: false, polled: false, preRunning: false}, // could not launch: the reason goes to the job log, the job is reported failed
  finished: {provisioning: false, polled: false, preRunning: false}, // over in GitLab; the resource must go
  decommissioning: {provisioning: false, polled: false, preRunning: false}, // intent: the resource is being deleted
} as const satisfies Record<string, {provisioning: boolean; polled: boolean; preRunning: boolean}>

export type JobPhase = keyof typeof PHASES

/** Every phase, in the order of a job's life. */
export const JOB_PHASES = Object.keys(PHASES) as [JobPhase, ...JobPhase[]]

const phasesWhere = (trait: keyof (typeof PHASES)[JobPhase]): ReadonlySet<JobPhase> =>
  new Set(JOB_PHASES.filter((p) => PHASES[p][trait]))

/** Phases in which a job counts against `paas_max_concurrent_provisioning`. */
export const PROVISIONING_PHASES = phasesWhere('provisioning')
/** Phases whose progress (or cancellation) is polled from GitLab. */
export const POLLED_PHASES = phasesWhere('polled')
/** Phases in which a cancellation in GitLab stops the pipeline and deletes the resource early. */
export const PRE_RUNNING_PHASES = phasesWhere('preRunning')

export function isJobPhase(p: unknown): p is JobPhase {
  return typeof p === 'string' && Object.hasOwn(PHASES, p)
}

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

import type {IntakeBlocker} from './quota/admission.js'
import type {JobPhase} from './state/job-record.js'

/** What a runner's intake is doing right now. */
export type IntakeState =
  | {state: 'starting'}
  | {state: 'polling'}
  | {state: 'long-polling'}
  | {state: 'paused'; reason: string; blocker: IntakeBlocker}
  | {state: 'backoff'; reason: string; until: number}
  /** `code`: why, as data (`poll_cycles`, `flavor_config`, `quota_too_small`). */
  | {state: 'stopped'; reason: string; code?: string}

/** Everything the core tells the outside world. Logs, TUI, metrics and status are built from these. */
export type DispatcherEvent =
  | {type: 'intake'; runner: string; intake: IntakeState; at: number}
  | {
      type: 'job-phase'
      runner: string
      jobId: number
      phase: JobPhase | 'gone'
      at: number
      weight: number
      resourceId?: string
      reason?: string
      canceled?: boolean
    }
  | {type: 'launch-failed'; runner: string; jobId: number; reason: string; at: number}
  | {type: 'job-finished'; runner: string; jobId: number; status?: string; at: number}
  | {
      type: 'decommissioned'
      runner: string
      jobId: number
      resourceId: string
      outcome: 'deleted' | 'absent'
      at: number
      durationMs: number
    }
  | {
      type: 'delete-retry'
      runner: string
      jobId: number
      resourceId: string
      attempt: number
      error: string
      nextAt: number
      at: number
    }
  | {
      type: 'orphan'
      runner: string
      resourceId: string
      name: string
      action: 'marked' | 'deleted' | 'cleared'
      at: number
    }
  | {type: 'unmarked-resource'; runner: string; resourceId: string; name: string; at: number}
  | {type: 'coordinator-error'; runner: string; kind: string; message: string; at: number}
  | {type: 'quota'; total: number; explanation: string; at: number}
  | {type: 'shutdown'; stage: 'requested' | 'draining' | 'done' | 'forced'; pending: number; at: number}

export type Listener = (e: DispatcherEvent) => void

/** Minimal typed event bus. Listeners must not throw; a throwing listener is isolated. */
export class EventBus {
  private readonly listeners = new Set<Listener>()

  on(l: Listener): () => void {
    this.listeners.add(l)
    return () => this.listeners.delete(l)
  }

  emit(e: DispatcherEvent): void {
    for (const l of this.listeners) {
      try {
        l(e)
      } catch {
        // A broken view must never break the dispatcher.
      }
    }
  }
}

/** One job, as status, metrics and the TUI show it. No token. */
export interface JobSnapshot {
  runner: string
  runnerName: string | null
  jobId: number
  projectId: number | null
  projectName: string | null
  phase: JobPhase
  flavor: string | null
  weight: number
  acquiredAt: number
  phaseSince: number
  resourceId: string | null
  deleteAttempts: number
  failure: string | null
}

export interface RunnerSnapshot {
  runner: string
  name: string | null
  url: string
  executor: string
  intake: IntakeState
  minRequestableWeight: number | null
}

/** The whole picture at one moment. `status --json`, `/status`, metrics and the TUI use this type. */
export interface DispatcherSnapshot {
  at: number
  startedAt: number
  quota: {total: number | null; explanation: string | null; used: number; reserved: number}
  concurrent: {limit: number; used: number}
  provisioning: {limit: number; used: number}
  runners: RunnerSnapshot[]
  jobs: JobSnapshot[]
  pendingDeletions: number
  orphansMarked: number
  /**
   * Resources named like ours without an ownership marker (the original's apps, a person's):
   * reported, never deleted. Null when unknown (read from the state file, no daemon running).
   */
  unmarkedResources: Array<{runner: string; resourceId: string; name: string}> | null
  keptResources: number
  totals: {acquired: number; launched: number; finished: number; launchFailed: number; decommissioned: number}
  recentFailures: Array<{runner: string; jobId: number; reason: string; at: number}>
  stopping: boolean
}

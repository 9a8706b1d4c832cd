import type {JobPhase} from './state/job-record.js'
import type {IntakeState} from './status-schema.js'

/** The snapshot types are derived from their zod schemas (status-schema.ts), their one definition. */
export type {DispatcherSnapshot, IntakeState, JobSnapshot, RunnerSnapshot} from './status-schema.js'

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

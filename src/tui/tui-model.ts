import type {DispatcherEvent, DispatcherSnapshot} from '../core/events.js'

export interface EventLine {
  at: number
  level: 'info' | 'warn' | 'error'
  text: string
  /** The runner (short token) it is about; the panel shows its name. */
  runner?: string
  /** Lines with the same key are one line, updated in place, with a count. */
  key: string
  count: number
}

export interface HistoryLine {
  at: number
  runner: string
  jobId: number
  outcome: string
}

/** Phases in the order the table shows them: work in progress first, then running, then cleanup. */
export const PHASE_ORDER = [
  'acquired',
  'provisioning',
  'provisioned',
  'launching',
  'launched',
  'running',
  'reporting',
  'finished',
  'decommissioning',
] as const

/** What the TUI calls each phase. */
export const PHASE_LABEL: Record<string, string> = {
  acquired: 'acquired',
  provisioning: 'provisioning',
  provisioned: 'provisioning',
  launching: 'pushing',
  launched: 'waiting for log',
  running: 'running',
  reporting: 'failed',
  finished: 'finishing',
  decommissioning: 'deleting',
}

/**
 * What the TUI keeps from the event stream: the latest warnings and errors, a short history of
 * jobs that left, and each job's timeline. Pure; the UI renders it with snapshots.
 */
export class TuiModel {
  readonly events: EventLine[] = []
  readonly history: HistoryLine[] = []
  readonly timelines = new Map<string, Array<{at: number; phase: string}>>()
  /** The daemon's last log lines about each job (by job id), for the details view. */
  readonly jobLogs = new Map<number, string[]>()
  private readonly outcomes = new Map<string, string>()
  /** Outcomes of jobs that left, by `runner/jobId`. */
  private readonly ended = new Map<string, string>()
  /** Bumped on every change: the view re-renders only when it moved (or once a second, for the clocks). */
  version = 0

  constructor(
    private readonly maxEvents = 50,
    private readonly maxHistory = 20,
  ) {}

  onEvent(e: DispatcherEvent): void {
    this.version++
    switch (e.type) {
      case 'job-phase': {
        const k = `${e.runner}/${e.jobId}`
        if (e.canceled) this.outcomes.set(k, 'canceled')
        const t = this.timelines.get(k) ?? []
        t.push({at: e.at, phase: e.phase})
        this.timelines.set(k, t.slice(-20))
        if (e.phase === 'gone') {
          this.history.push({at: e.at, runner: e.runner, jobId: e.jobId, outcome: this.outcomes.get(k) ?? 'done'})
          if (this.history.length > this.maxHistory) this.history.shift()
          this.ended.set(k, this.outcomes.get(k) ?? 'done')
          if (this.ended.size > 500) this.ended.delete(this.ended.keys().next().value!)
          this.outcomes.delete(k)
          // Keep the timeline a little for the details view; drop the oldest beyond 500 jobs.
          if (this.timelines.size > 500) this.timelines.delete(this.timelines.keys().next().value!)
        }
        break
      }
      case 'launch-failed':
        this.outcomes.set(`${e.runner}/${e.jobId}`, 'launch failed')
        this.push(e.at, 'error', `job ${e.jobId}: launch failed: ${e.reason}`)
        break
      case 'job-finished':
        if (!this.outcomes.has(`${e.runner}/${e.jobId}`))
          this.outcomes.set(`${e.runner}/${e.jobId}`, e.status ?? 'finished')
        break
      case 'delete-retry':
        this.push(
          e.at,
          'warn',
          `job ${e.jobId}: deleting ${e.resourceId} failed (attempt ${e.attempt}), retrying: ${e.error}`,
        )
        break
      case 'orphan':
        this.push(e.at, 'warn', `orphan sweep: ${e.action} ${e.name}`)
        break
      case 'unmarked-resource':
        this.push(e.at, 'warn', `orphan sweep: ${e.name} has no ownership marker: never deleted automatically`)
        break
      case 'coordinator-error':
        this.push(e.at, 'warn', `GitLab ${e.kind}: ${e.message}`, {runner: e.runner})
        break
      case 'intake':
        // One line per runner and kind of pause: its figures change, its count grows.
        if (e.intake.state === 'paused')
          this.push(e.at, 'info', `intake paused: ${e.intake.reason}`, {
            runner: e.runner,
            key: `intake:${e.runner}:${e.intake.blocker.kind}`,
          })
        break
      case 'shutdown':
        this.push(e.at, 'warn', `shutdown: ${e.stage}${e.pending ? ` (${e.pending} operations to finish)` : ''}`)
        break
      default:
    }
  }

  /** Log lines the daemon writes while the TUI owns the screen: warnings and errors go to the events panel. */
  onLog(level: 'info' | 'warn' | 'error', text: string, at: number, jobId?: number): void {
    this.version++
    if (level !== 'info') this.push(at, level, text)
    if (jobId === undefined) return
    const lines = this.jobLogs.get(jobId) ?? []
    lines.push(`${new Date(at).toISOString().slice(11, 19)} ${text}`)
    this.jobLogs.set(jobId, lines.slice(-6))
    if (this.jobLogs.size > 500) this.jobLogs.delete(this.jobLogs.keys().next().value!)
  }

  /** How a job that left ended (`success`, `canceled`, `launch failed`…), for the details view. */
  outcomeOf(key: string): string | undefined {
    return this.ended.get(key) ?? this.outcomes.get(key)
  }

  /** Adds a line; one with the same key (by default: same level, runner and text) is moved last with its count bumped. */
  private push(at: number, level: EventLine['level'], text: string, o: {runner?: string; key?: string} = {}): void {
    const key = o.key ?? `${level}:${o.runner ?? ''}:${text}`
    const i = this.events.findIndex((e) => e.key === key)
    const count = i >= 0 ? this.events.splice(i, 1)[0]!.count + 1 : 1
    this.events.push({at, level, text, key, count, ...(o.runner === undefined ? {} : {runner: o.runner})})
    if (this.events.length > this.maxEvents) this.events.shift()
  }
}

/** The key of a job across snapshots: `runner/jobId`. */
export function jobKey(j: {runner: string; jobId: number}): string {
  return `${j.runner}/${j.jobId}`
}

/** Jobs sorted by phase, then by id. */
export function sortedJobs(s: DispatcherSnapshot): DispatcherSnapshot['jobs'] {
  const rank = (p: string) => PHASE_ORDER.indexOf(p as (typeof PHASE_ORDER)[number])
  return [...s.jobs].sort((a, b) => rank(a.phase) - rank(b.phase) || a.jobId - b.jobId)
}

/** `[#####.....]` of `width` cells. */
export function bar(used: number, total: number | null, width: number): string {
  if (!total || total <= 0) return `[${'?'.repeat(width)}]`
  const filled = Math.max(0, Math.min(width, Math.round((used / total) * width)))
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`
}

/** Weight used by flavor: `S 11.3  M 13.5`. */
export function flavorSplit(s: DispatcherSnapshot): string {
  const by = new Map<string, number>()
  for (const j of s.jobs) by.set(j.flavor ?? '?', (by.get(j.flavor ?? '?') ?? 0) + j.weight)
  return [...by]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([f, w]) => `${f} ${w.toFixed(1)}`)
    .join('  ')
}

export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}

import {POLLED_PHASES, recordKey, type JobRecord} from '../state/job-record.js'
import type {DispatcherContext} from './dispatcher-context.js'

/** The next check to make, or how long to wait before one may be due. */
export type NextCheck = {record: JobRecord; url: string} | {waitMs: number}

/**
 * Which job's progress to check next. Each GitLab instance has its own pace (its polled jobs,
 * spread evenly over `job_progress_poll_interval`) and its own round of its jobs: an instance
 * that answers slowly never makes the others' jobs polled more often, nor is it starved by them.
 *
 * A round is a list of the instance's polled job keys, taken when the last one is used up: a job
 * that comes meanwhile waits for the next round (at most one interval). The pace counts the
 * polled jobs again whenever a record or the runners changed (their maps' revisions), never
 * from a stale count, and not at every check.
 */
export class ProgressSchedule {
  /** Per instance: its round's job keys, and how many of them were taken. */
  private readonly rounds = new Map<string, {keys: string[]; taken: number}>()
  private readonly last = new Map<string, number>()
  private polled = new Map<string, number>()
  private countedAt = {records: -1, runners: -1}

  constructor(private readonly ctx: DispatcherContext) {}

  /**
   * The most overdue instance's next job that `ready` accepts (not in flight), among the instances
   * with a free slot (`free`); else how long until one is due (an instance with nothing ready
   * waits for a check to end, which wakes the loop).
   */
  next(now: number, interval: number, free: (url: string) => boolean, ready: (key: string) => boolean): NextCheck {
    const polled = this.polledPerInstance()
    const due = [...polled]
      .map(([url, n]) => ({url, at: (this.last.get(url) ?? Number.NEGATIVE_INFINITY) + interval / n}))
      .sort((a, b) => a.at - b.at)
    let waitMs = interval
    for (const {url, at} of due) {
      if (!free(url)) continue
      if (at > now) {
        waitMs = Math.min(waitMs, at - now)
        continue
      }
      const record = this.take(url, ready)
      if (record) {
        this.last.set(url, now)
        return {record, url}
      }
    }
    return {waitMs: Math.max(1, waitMs)}
  }

  /** The next job of `url`'s round that is still polled and ready; a new round when it is used up. */
  private take(url: string, ready: (key: string) => boolean): JobRecord | undefined {
    for (let fresh = false; ; fresh = true) {
      const round = this.rounds.get(url) ?? {keys: [], taken: 0}
      this.rounds.set(url, round)
      while (round.taken < round.keys.length) {
        const key = round.keys[round.taken++]!
        const r = this.ctx.store.records.get(key)
        if (r && this.polls(r) && this.urlOf(r) === url && ready(key)) return r
      }
      if (fresh) return undefined
      this.rounds.set(url, {keys: this.roundOf(url), taken: 0})
    }
  }

  private roundOf(url: string): string[] {
    const keys: string[] = []
    for (const r of this.ctx.store.records.values())
      if (this.polls(r) && this.urlOf(r) === url) keys.push(recordKey(r.runner, r.jobId))
    return keys
  }

  /** Polled jobs per instance, counted again only after a change of the records or the runners. */
  private polledPerInstance(): Map<string, number> {
    const {records} = this.ctx.store
    const runners = this.ctx.byUnique
    if (records.revision === this.countedAt.records && runners.revision === this.countedAt.runners) return this.polled
    const n = new Map<string, number>()
    for (const r of records.values()) {
      if (!this.polls(r)) continue
      const url = this.urlOf(r)
      n.set(url, (n.get(url) ?? 0) + 1)
    }
    for (const url of this.rounds.keys()) if (!n.has(url)) this.rounds.delete(url)
    this.polled = n
    this.countedAt = {records: records.revision, runners: runners.revision}
    return n
  }

  private polls(r: JobRecord): boolean {
    return POLLED_PHASES.has(r.phase) && this.ctx.byUnique.has(r.runner)
  }

  private urlOf(r: JobRecord): string {
    return this.ctx.byUnique.get(r.runner)!.endpoint.url
  }
}

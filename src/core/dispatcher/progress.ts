import {waitNotified} from '../clock.js'
import {POLLED_PHASES, recordKey, type JobRecord} from '../state/job-record.js'
import type {DispatcherContext} from './dispatcher-context.js'
import type {JobPipeline} from './job-pipeline.js'

/** Progress polling: asks GitLab whether each launched job is over (finished, or canceled before it ran). */
export class Progress {
  constructor(
    private readonly ctx: DispatcherContext,
    private readonly pipeline: JobPipeline,
  ) {}

  /**
   * Checks the progress of every polled job about once per `job_progress_poll_interval`, spread
   * evenly over it. Checks run concurrently under a small bound, and at most half of it per GitLab
   * instance: a slow or rate-limited job (or instance) holds its own slots, never the others'.
   *
   * The records are walked with one iterator, round robin, resumed at each check: a check costs
   * the records it skips, not a pass over all of them (with 5,000 tracked jobs, a filtered copy
   * of every record per check was most of the daemon's own CPU). The pace uses the count of
   * polled records of the last full pass.
   */
  async loop(): Promise<void> {
    const bound = this.ctx.opts.progressConcurrency
    const perInstance = Math.max(1, Math.floor(bound / 2))
    const inFlight = new Map<string, string>() // job key → GitLab URL
    const checks = new Set<Promise<void>>()
    const walk = new RoundRobin(this.ctx)
    let lastCheck = Number.NEGATIVE_INFINITY
    while (!this.ctx.stopping) {
      // Read at each turn: a reload may change it.
      const interval = this.ctx.config.jobProgressPollInterval * 1000
      const busy = new Map<string, number>()
      for (const url of inFlight.values()) busy.set(url, (busy.get(url) ?? 0) + 1)
      const rec =
        inFlight.size >= bound
          ? undefined
          : walk.next(
              (r) =>
                !inFlight.has(recordKey(r.runner, r.jobId)) &&
                (busy.get(this.ctx.byUnique.get(r.runner)!.endpoint.url) ?? 0) < perInstance,
            )
      if (!rec) {
        await waitNotified(this.ctx.progressWake, this.ctx.deps.clock, interval, this.ctx.stopSignal)
        continue
      }
      const due = lastCheck + interval / walk.polled()
      if (this.ctx.now() < due) {
        walk.again(rec)
        await waitNotified(this.ctx.progressWake, this.ctx.deps.clock, due - this.ctx.now(), this.ctx.stopSignal)
        continue
      }
      const key = recordKey(rec.runner, rec.jobId)
      inFlight.set(key, this.ctx.byUnique.get(rec.runner)!.endpoint.url)
      lastCheck = this.ctx.now()
      const check: Promise<void> = this.checkProgress(key).finally(() => {
        inFlight.delete(key)
        checks.delete(check)
        this.ctx.progressWake.notify()
      })
      checks.add(check)
    }
    await Promise.allSettled([...checks])
  }

  private async checkProgress(key: string): Promise<void> {
    const rec = this.ctx.current(key)
    if (!rec || !POLLED_PHASES.has(rec.phase)) return
    const rt = this.ctx.byUnique.get(rec.runner)!
    let finished: {finished: boolean; status?: string}
    try {
      finished = await this.ctx.deps.coordinator.jobStatus(
        rt.endpoint,
        {id: rec.jobId, token: rec.jobToken},
        {signal: this.ctx.stopSignal},
      )
    } catch (error) {
      if (!this.ctx.stopping)
        this.ctx.log.warn('cannot check job progress; will retry', {
          runner: rec.runner,
          job: rec.jobId,
          error: this.ctx.errText(error),
        })
      return
    }
    if (!finished.finished) return
    const now = this.ctx.current(key)
    if (!now) return
    this.ctx.emit({
      type: 'job-finished',
      runner: now.runner,
      jobId: now.jobId,
      ...(finished.status ? {status: finished.status} : {}),
      at: this.ctx.now(),
    })
    try {
      await this.pipeline.over(now, finished.status)
    } catch (error) {
      // Shutdown cut it, or the state refused it: the next check (or the job's holder) goes on.
      if (!this.ctx.stopping)
        this.ctx.log.warn('cannot record that the job is over; will retry', {
          runner: now.runner,
          job: now.jobId,
          error: this.ctx.errText(error),
        })
    }
  }
}

/**
 * The polled records (a polled phase, a runner still configured), round robin over the store's
 * records with one live iterator: records added come in at the end, records removed are skipped.
 */
class RoundRobin {
  private it: Iterator<JobRecord> | undefined
  /** Polled records seen in the pass under way. */
  private counting = 0
  /** How many records are polled, counted when the store had `countedAt` records. */
  private count = 0
  private countedAt = -1
  /** A record chosen but not checked yet (not due): it comes first next time. */
  private held: JobRecord | undefined

  constructor(private readonly ctx: DispatcherContext) {}

  /** The next polled record that `ready` accepts, at most one full pass from here; undefined if none. */
  next(ready: (r: JobRecord) => boolean): JobRecord | undefined {
    const held = this.held && this.ctx.store.records.get(recordKey(this.held.runner, this.held.jobId))
    this.held = undefined
    if (held && this.polls(held) && ready(held)) return held
    const size = this.ctx.store.records.size
    for (let seen = 0; seen <= size; seen++) {
      this.it ??= this.ctx.store.records.values()
      const step = this.it.next()
      if (step.done) {
        this.it = undefined
        this.count = this.counting
        this.countedAt = size
        this.counting = 0
        continue
      }
      const r = step.value
      if (!this.polls(r)) continue
      this.counting++
      if (ready(r)) return r
    }
    return undefined
  }

  /** Offers `r` again first at the next call (it was not due yet). */
  again(r: JobRecord): void {
    this.held = r
  }

  /**
   * How many records are polled: the count of the last full pass, or counted again (one pass, no
   * copy) when jobs came or went since. A phase that changes in place is seen at the next pass.
   */
  polled(): number {
    const size = this.ctx.store.records.size
    if (size !== this.countedAt) {
      this.count = 0
      for (const r of this.ctx.store.records.values()) if (this.polls(r)) this.count++
      this.countedAt = size
    }
    return Math.max(1, this.count)
  }

  private polls(r: JobRecord): boolean {
    return POLLED_PHASES.has(r.phase) && this.ctx.byUnique.has(r.runner)
  }
}

import {waitNotified} from '../clock.js'
import {POLLED_PHASES, recordKey} from '../state/job-record.js'
import type {DispatcherContext} from './dispatcher-context.js'
import type {JobPipeline} from './job-pipeline.js'
import {ProgressSchedule} from './progress-schedule.js'

/** Progress polling: asks GitLab whether each launched job is over (finished, or canceled before it ran). */
export class Progress {
  constructor(
    private readonly ctx: DispatcherContext,
    private readonly pipeline: JobPipeline,
  ) {}

  /**
   * Checks the progress of every polled job about once per `job_progress_poll_interval`, spread
   * evenly over it, per GitLab instance (ProgressSchedule). Checks run concurrently under a small
   * bound, and at most half of it per instance: a slow or rate-limited job (or instance) holds its
   * own slots, never the others'.
   */
  async loop(): Promise<void> {
    const bound = this.ctx.opts.progressConcurrency
    const perInstance = Math.max(1, Math.floor(bound / 2))
    const inFlight = new Map<string, string>() // job key → GitLab URL
    const checks = new Set<Promise<void>>()
    const schedule = new ProgressSchedule(this.ctx)
    while (!this.ctx.stopping) {
      // Read at each turn: a reload may change it.
      const interval = this.ctx.config.jobProgressPollInterval * 1000
      const busy = new Map<string, number>()
      for (const url of inFlight.values()) busy.set(url, (busy.get(url) ?? 0) + 1)
      const next =
        inFlight.size >= bound
          ? {waitMs: interval}
          : schedule.next(
              this.ctx.now(),
              interval,
              (url) => (busy.get(url) ?? 0) < perInstance,
              (key) => !inFlight.has(key),
            )
      if ('waitMs' in next) {
        // A check that ends wakes it: its slot, and maybe its instance's, is free again.
        await waitNotified(this.ctx.progressWake, this.ctx.deps.clock, next.waitMs, this.ctx.stopSignal)
        continue
      }
      const key = recordKey(next.record.runner, next.record.jobId)
      inFlight.set(key, next.url)
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

import {waitNotified} from '../clock.js'
import {POLLED_PHASES, recordKey} from '../state/job-record.js'
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
   */
  async loop(): Promise<void> {
    let cursor = 0
    let lastCheck = Number.NEGATIVE_INFINITY
    const bound = this.ctx.opts.progressConcurrency
    const perInstance = Math.max(1, Math.floor(bound / 2))
    const inFlight = new Map<string, string>() // job key → GitLab URL
    const checks = new Set<Promise<void>>()
    while (!this.ctx.stopping) {
      // Read at each turn: a reload may change it.
      const interval = this.ctx.config.jobProgressPollInterval * 1000
      const polled = [...this.ctx.store.records.values()].filter(
        (r) => POLLED_PHASES.has(r.phase) && this.ctx.byUnique.has(r.runner),
      )
      const busy = new Map<string, number>()
      for (const url of inFlight.values()) busy.set(url, (busy.get(url) ?? 0) + 1)
      const eligible = polled.filter(
        (r) =>
          !inFlight.has(recordKey(r.runner, r.jobId)) &&
          (busy.get(this.ctx.byUnique.get(r.runner)!.endpoint.url) ?? 0) < perInstance,
      )
      if (eligible.length === 0 || inFlight.size >= bound) {
        await waitNotified(this.ctx.progressWake, this.ctx.deps.clock, interval, this.ctx.stopSignal)
        continue
      }
      const due = lastCheck + interval / polled.length
      if (this.ctx.now() < due) {
        await waitNotified(this.ctx.progressWake, this.ctx.deps.clock, due - this.ctx.now(), this.ctx.stopSignal)
        continue
      }
      cursor %= eligible.length
      const rec = eligible[cursor++]!
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

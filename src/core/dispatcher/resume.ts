import type {JobRecord} from '../state/job-record.js'
import type {DispatcherContext} from './dispatcher-context.js'

/** What start-up does to the records of an earlier run (or of the original's state file) before resuming them. */
export class Resume {
  constructor(private readonly ctx: DispatcherContext) {}

  /**
   * The original keyed its records by the first 8 characters of the runner token, which is not
   * the short token of a `glrt-` runner: such a record is moved to the runner it names, when
   * exactly one configured runner's token starts with those 8 characters.
   */
  async adoptLegacyRunnerName(rec: JobRecord): Promise<JobRecord> {
    if (this.ctx.byUnique.has(rec.runner)) return rec
    const matches = this.ctx.runners.filter((rt) => rt.unit.config.token.slice(0, 8) === rec.runner)
    if (matches.length !== 1) return rec
    const runner = matches[0]!.unit.config.uniqueName
    const moved: JobRecord = {...rec, runner}
    await this.ctx.store.put(moved)
    await this.ctx.store.delete(rec.runner, rec.jobId)
    this.ctx.log.info("a job of the original state file is now keyed by its runner's short token", {
      job: rec.jobId,
      from: rec.runner,
      runner,
    })
    return moved
  }

  /**
   * A job imported without any weight counts as the heaviest flavor its runner may get: the
   * worst case, so an upgrade can never overrun the quota (the original assumed 1).
   */
  async assumeHeaviest(rec: JobRecord): Promise<JobRecord> {
    const rt = this.ctx.byUnique.get(rec.runner)!
    let weight: number
    try {
      weight = await rt.unit.executor.minRequestableWeight(this.ctx.stopSignal)
    } catch (error) {
      this.ctx.log.warn(
        'an imported job has no weight and the flavors are unavailable: it counts as weight 1 for now',
        {runner: rec.runner, job: rec.jobId, error: this.ctx.errText(error)},
      )
      return rec
    }
    const next: JobRecord = {
      ...rec,
      weight: Math.max(rec.weight, weight),
      expectedWeight: Math.max(rec.expectedWeight, weight),
    }
    delete next.weightUnknown
    await this.ctx.store.put(next)
    this.ctx.log.info('an imported job had no weight: it counts as the heaviest flavor of its runner', {
      runner: rec.runner,
      job: rec.jobId,
      weight,
    })
    return next
  }
}

import {ConfigError} from '../errors.js'
import type {WaitingAhead} from '../quota/admission.js'
import {formatWeight} from '../quota/flavor-weight.js'
import {computeWeightedQuota, UnknownFlavorError} from '../quota/quota.js'
import {PROVISIONING_PHASES, type JobRecord} from '../state/job-record.js'
import type {Config} from '../config/config-types.js'
import type {DispatcherContext, RunnerRuntime, RunnerUnit} from './dispatcher-context.js'

/** What is in use right now: tracked jobs plus the reservations of job requests in flight. */
export interface Usage {
  weight: number
  jobs: number
  provisioning: number
  reserved: number
}

/**
 * The limits: the weighted quota (computed from the reference runner's flavors), what counts
 * against it, and the queue of runners waiting for capacity (fair shares).
 */
export class Capacity {
  constructor(private readonly ctx: DispatcherContext) {}

  /** Computes the quota; ConfigError when the reference flavor does not exist. */
  async computeQuota(first: boolean): Promise<void> {
    const {ctx} = this
    const qc = ctx.config.quotaComputation
    const ref = ctx.runners.find((r) => r.unit.config.name === qc.referenceRunner)
    if (!ref)
      throw new ConfigError(ctx.config.file, [
        {path: 'quota_computation.reference_runner', message: `no runner named '${qc.referenceRunner}'`},
      ])
    let flavors
    try {
      flavors = await ref.unit.executor.flavors(ctx.stopSignal)
    } catch (error) {
      if (first)
        ctx.log.warn(
          'cannot compute the quota yet: the flavors of the reference runner are unavailable; intake waits, tracked jobs go on',
          {runner: ref.unit.config.uniqueName, error: ctx.errText(error)},
        )
      return
    }
    try {
      ctx.quota = computeWeightedQuota(qc, flavors)
    } catch (error) {
      if (error instanceof UnknownFlavorError) {
        throw new ConfigError(ctx.config.file, [
          {
            path: 'quota_computation.reference_flavor',
            message: `runner '${qc.referenceRunner}' has no flavor '${qc.referenceFlavor}'; its flavors: ${error.available.join(', ')}`,
          },
        ])
      }
      throw error
    }
    ctx.log.warn(
      `maximum concurrency set to ${ctx.config.concurrent}; weighted quota set to ${formatWeight(ctx.quota.total)} (${ctx.quota.explanation})`,
    )
    ctx.emit({type: 'quota', total: ctx.quota.total, explanation: ctx.quota.explanation, at: ctx.now()})
    ctx.capacity.notify()
  }

  /** While the flavors API is down at start: retries until the quota is known. */
  async quotaLoop(): Promise<void> {
    const {ctx} = this
    while (!ctx.quota && !ctx.stopping) {
      await ctx.sleep(ctx.opts.quotaRetryMs)
      if (ctx.stopping) return
      try {
        await this.computeQuota(false)
      } catch (error) {
        ctx.log.error('quota computation failed', {error: ctx.errText(error)})
        return
      }
    }
  }

  /**
   * A quota that can never hold the heaviest flavor a runner may get leaves that runner idle for
   * good: refuse to start (ConfigError, exit 2) with the fix, unless `allowIdle` (`--allow-idle`).
   * Checked when the flavors are known at start; later, the runner's intake stops with the reason.
   */
  async refuseIdleRunners(): Promise<void> {
    await this.refuseIdle(
      this.ctx.quota,
      this.ctx.runners.map((rt) => rt.unit),
      this.ctx.config,
    )
  }

  /** The check of `refuseIdleRunners` for any quota and runners: a reload's are checked the same way. */
  async refuseIdle(quota: DispatcherContext['quota'], units: readonly RunnerUnit[], config: Config): Promise<void> {
    const {ctx} = this
    if (!quota || ctx.opts.allowIdle) return
    const issues = []
    for (const unit of units) {
      let need: number
      try {
        need = await unit.executor.minRequestableWeight(ctx.stopSignal)
      } catch {
        continue // unknown flavors or API down: the intake loop says so
      }
      if (need <= quota.total + 1e-9) continue
      issues.push({
        path: `runners[${unit.config.index}]`,
        message:
          `runner '${unit.config.name ?? `runners[${unit.config.index}]`}' could never take a job: the weighted quota ${formatWeight(quota.total)} (${quota.explanation}) is less than the weight of its heaviest flavor, ${formatWeight(need)}. ` +
          "Raise [quota_computation] reference_jobs_count (or its reference flavor), or set this runner's max flavor (cc_max_flavor) to a flavor that fits; --allow-idle starts anyway",
      })
    }
    if (issues.length > 0) throw new ConfigError(config.file, issues)
  }

  /** Does this record count against the limits? Not when its runner is gone or its delete failed for too long. */
  counted(r: JobRecord): boolean {
    const {ctx} = this
    if (!ctx.byUnique.has(r.runner)) return false
    if (
      r.phase === 'decommissioning' &&
      (r.deleteAttempts ?? 0) > 0 &&
      ctx.now() - r.phaseSince > ctx.opts.deleteHoldMs
    )
      return false
    return true
  }

  usage(): Usage {
    let weight = 0
    let jobs = 0
    let provisioning = 0
    for (const r of this.ctx.store.records.values()) {
      if (!this.counted(r)) continue
      weight += r.weight
      jobs++
      if (PROVISIONING_PHASES.has(r.phase)) provisioning++
    }
    let reserved = 0
    for (const rt of this.ctx.runners) {
      if (rt.reserved === undefined) continue
      reserved += rt.reserved
      jobs++
      provisioning++
    }
    return {weight: weight + reserved, jobs, provisioning, reserved}
  }

  /**
   * The runners waiting for capacity since before `rt`, which it must not overtake. A runner
   * whose heaviest flavor can never fit (`--allow-idle`) waits for nobody and blocks nobody.
   */
  waitingAhead(rt: RunnerRuntime): WaitingAhead {
    const ahead = this.ctx.runners.filter((o) => o !== rt && this.isWaiting(o) && o.waitingSince < rt.waitingSince)
    return {names: ahead.map((o) => o.name), weight: ahead.reduce((w, o) => w + (o.minWeight ?? 0), 0)}
  }

  /** Another runner is waiting for capacity: held polls would keep it waiting. */
  someoneWaiting(rt: RunnerRuntime): boolean {
    return this.ctx.runners.some((o) => o !== rt && this.isWaiting(o))
  }

  /** Can never fit: the quota is below its heaviest flavor. */
  neverFits(minWeight: number): boolean {
    return this.ctx.quota !== undefined && minWeight > this.ctx.quota.total + 1e-9
  }

  private isWaiting(o: RunnerRuntime): boolean {
    if (o.reserved !== undefined || o.intake.state !== 'paused') return false
    const kind = o.intake.blocker.kind
    const capacity =
      kind === 'quota' || kind === 'concurrent' || kind === 'provisioning' || kind === 'turn' || kind === 'cluster'
    return capacity && !this.neverFits(o.minWeight ?? 0)
  }
}

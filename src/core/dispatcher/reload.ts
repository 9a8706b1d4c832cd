import type {Config} from '../config/config-types.js'
import {sharedAbortController} from '../clock.js'
import {AbortedError} from '../coordinator/coordinator-errors.js'
import {ConfigError} from '../errors.js'
import {formatWeight} from '../quota/flavor-weight.js'
import {computeWeightedQuota, UnknownFlavorError} from '../quota/quota.js'
import type {Capacity} from './capacity.js'
import type {DispatcherContext, RunnerRuntime, RunnerUnit} from './dispatcher-context.js'
import {planReload, type ReloadPlan} from './reload-plan.js'

/**
 * A new configuration while jobs run (SIGHUP). Added runners start polling; removed ones stop
 * taking jobs at once (a request in flight is aborted), finish the jobs they have, then leave
 * (`DispatcherContext.dropIfRetiredAndIdle`); a runner whose section changed gets its new
 * executor, its jobs go on; limits apply at once. Nothing changes unless all of it can.
 */
export class Reload {
  constructor(
    private readonly ctx: DispatcherContext,
    private readonly capacity: Capacity,
    private readonly startIntake: (rt: RunnerRuntime) => void,
  ) {}

  /**
   * `units` holds an executor for each runner that `planReload` finds added or changed; the
   * others keep theirs (and its caches). Throws ConfigError, changing nothing, when the new
   * `[quota_computation]` names a flavor its runner lacks, or when a runner could never take a
   * job under the new quota (unless `allowIdle`), as at start.
   */
  async apply(config: Config, units: readonly RunnerUnit[]): Promise<ReloadPlan> {
    const {ctx} = this
    const plan = planReload(ctx.config, config)
    const fresh = new Map(units.map((u) => [u.config.uniqueName, u]))
    for (const r of [...plan.added, ...plan.changed]) {
      if (!fresh.has(r.uniqueName)) throw new Error(`reload: no executor given for runner ${r.uniqueName}`)
    }
    const quota = plan.quotaChanged ? await this.candidateQuota(config, fresh) : ctx.quota
    const unitOf = (r: Config['runners'][number]): RunnerUnit =>
      fresh.get(r.uniqueName) ?? {config: r, executor: ctx.byUnique.get(r.uniqueName)!.unit.executor}
    await this.capacity.refuseIdle(quota, config.runners.map(unitOf), config)
    if (ctx.stopping) return plan

    ctx.config = config
    for (const uniq of plan.removed) {
      const rt = ctx.byUnique.get(uniq)
      if (!rt || rt.retired) continue
      rt.retired = true
      rt.stop.abort(new AbortedError('removed from the configuration'))
      const jobs = [...ctx.store.records.values()].filter((r) => r.runner === uniq).length
      rt.intake = {
        state: 'stopped',
        reason: `removed from the configuration${jobs ? `; finishing its ${jobs} job(s)` : ''}`,
        code: 'removed',
      }
      ctx.emit({type: 'intake', runner: uniq, intake: rt.intake, at: ctx.now()})
      ctx.dropIfRetiredAndIdle(uniq)
    }
    for (const r of config.runners) {
      const unit = fresh.get(r.uniqueName)
      const rt = ctx.byUnique.get(r.uniqueName)
      if (!rt) {
        const added = ctx.runtime(unit!)
        ctx.runners.push(added)
        this.startIntake(added)
        continue
      }
      rt.unit = unit ?? unitOf(r)
      rt.name = r.name ?? `runners[${r.index}]`
      rt.endpoint = {url: r.url, token: r.token, uniqueName: r.uniqueName}
      if (unit) delete rt.minWeight
      if (rt.retired) {
        // Removed by an earlier reload and back before its jobs were over: it polls again.
        rt.retired = false
        rt.stop = sharedAbortController()
        rt.generation++
        this.startIntake(rt)
      }
    }
    // Table order: the file's, then the runners that are finishing their jobs.
    const order = new Map(config.runners.map((r, i) => [r.uniqueName, i]))
    ctx.runners.sort(
      (a, b) => (order.get(a.unit.config.uniqueName) ?? Infinity) - (order.get(b.unit.config.uniqueName) ?? Infinity),
    )
    if (quota && quota !== ctx.quota) {
      ctx.quota = quota
      ctx.log.warn(`weighted quota set to ${formatWeight(quota.total)} (${quota.explanation})`)
      ctx.emit({type: 'quota', total: quota.total, explanation: quota.explanation, at: ctx.now()})
    }
    ctx.capacity.notify()
    ctx.progressWake.notify()
    return plan
  }

  /**
   * The quota of a reloaded configuration. Flavors unavailable: the quota in force is kept (a
   * reload never leaves the daemon without one). A reference flavor that does not exist: ConfigError.
   */
  private async candidateQuota(
    config: Config,
    fresh: ReadonlyMap<string, RunnerUnit>,
  ): Promise<DispatcherContext['quota']> {
    const {ctx} = this
    const qc = config.quotaComputation
    const ref = config.runners.find((r) => r.name === qc.referenceRunner)
    if (!ref)
      throw new ConfigError(config.file, [
        {path: 'quota_computation.reference_runner', message: `no runner named '${qc.referenceRunner}'`},
      ])
    const executor = fresh.get(ref.uniqueName)?.executor ?? ctx.byUnique.get(ref.uniqueName)!.unit.executor
    let flavors
    try {
      flavors = await executor.flavors(ctx.stopSignal)
    } catch (error) {
      ctx.log.warn(
        'reload: the flavors of the reference runner are unavailable; the quota in force is kept until the next reload',
        {error: ctx.errText(error)},
      )
      return ctx.quota
    }
    try {
      return computeWeightedQuota(qc, flavors)
    } catch (error) {
      if (error instanceof UnknownFlavorError) {
        throw new ConfigError(config.file, [
          {
            path: 'quota_computation.reference_flavor',
            message: `runner '${qc.referenceRunner}' has no flavor '${qc.referenceFlavor}'; its flavors: ${error.available.join(', ')}`,
          },
        ])
      }
      throw error
    }
  }
}

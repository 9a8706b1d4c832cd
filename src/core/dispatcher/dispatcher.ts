import type {Config} from '../config/config-types.js'
import {sharedAbortController} from '../clock.js'
import {AbortedError} from '../coordinator/coordinator-errors.js'
import type {DispatcherSnapshot, EventBus, JobSnapshot} from '../events.js'
import type {JobRecord} from '../state/job-record.js'
import {Capacity} from './capacity.js'
import {ClusterMembership} from './cluster-membership.js'
import {DispatcherContext, type DispatcherDeps, type RunnerRuntime, type RunnerUnit} from './dispatcher-context.js'
import {Intake} from './intake.js'
import {ExecutorReports} from './executor-reports.js'
import {JobPipeline} from './job-pipeline.js'
import {OrphanSweep} from './orphan-sweep.js'
import {Progress} from './progress.js'
import {Reload} from './reload.js'
import type {ReloadPlan} from './reload-plan.js'
import {Resume} from './resume.js'
import {jobSnapshot} from './state-snapshot.js'

export type {DispatcherDeps, RunnerUnit} from './dispatcher-context.js'

/**
 * The scheduler, assembled from its concerns, each in its own file over one shared context
 * (dispatcher-context.ts: the job table, the runners, the quota, the clock):
 * - capacity.ts: the weighted quota, what counts against the limits, the fair-share queue;
 * - intake.ts: one loop per runner taking jobs while the limits allow;
 * - job-pipeline.ts: a job's life, one handler per phase (launch-watch.ts, failure-report.ts,
 *   decommission.ts for the longer ones), cancellation in one place;
 * - progress.ts: job-status checks spread over `job_progress_poll_interval`;
 * - orphan-sweep.ts: resources with our marker that no record knows;
 * - resume.ts: records of an earlier run or of the original's state file, before they resume;
 * - reload.ts: a new configuration while jobs run (SIGHUP);
 * - executor-reports.ts: a line for a job's log, or its resource failed, from its executor.
 * - cluster-membership.ts: with several daemons on one database, the lease and the adoption of
 *   the jobs of daemons gone (the shared admission ledger is asked by intake).
 * This class starts and stops them, and builds the snapshot the views read.
 */
export class Dispatcher {
  readonly events: EventBus
  /** What executors tell about their jobs (`deps.jobLog`, `deps.resourceFailed`): executor-reports.ts. */
  readonly reports: ExecutorReports
  private readonly ctx: DispatcherContext
  private readonly capacity: Capacity
  private readonly pipeline: JobPipeline
  private readonly intake: Intake
  private readonly progress: Progress
  private readonly sweep: OrphanSweep
  private readonly reload: Reload
  private readonly membership: ClusterMembership | undefined
  private readonly loops: Array<Promise<void>> = []
  private readonly intakeLoops: Array<Promise<void>> = []
  private stopped: Promise<void> | undefined

  constructor(deps: DispatcherDeps) {
    this.ctx = new DispatcherContext(deps)
    this.events = this.ctx.events
    this.capacity = new Capacity(this.ctx)
    this.pipeline = new JobPipeline(this.ctx)
    this.reports = new ExecutorReports(this.ctx, this.pipeline)
    this.intake = new Intake(this.ctx, this.capacity, this.pipeline)
    this.progress = new Progress(this.ctx, this.pipeline)
    this.sweep = new OrphanSweep(this.ctx)
    this.reload = new Reload(this.ctx, this.capacity, (rt) => this.startIntake(rt))
    this.sweep.cluster = deps.cluster
    if (deps.cluster)
      this.membership = new ClusterMembership(this.ctx, deps.cluster, (records) => this.resumeRecords(records))
  }

  /** In a cluster: resolves with the reason once this daemon's lease is lost (it must then stop); never otherwise. */
  get leaseLost(): Promise<string> {
    return this.membership?.lost ?? new Promise(() => {})
  }

  /** In a cluster: the state database's connection dropped; intake stops now (the lease renewal resumes it). */
  stateUnreachable(): void {
    this.ctx.stateUnreachable()
  }

  /** One lease renewal and the adoptions it allows (tests; the membership loop does it every third of the lease). */
  async clusterTick(): Promise<void> {
    await this.membership?.tick()
  }

  private startIntake(rt: RunnerRuntime): void {
    const loop = this.intake.loop(rt)
    this.intakeLoops.push(loop)
    this.loops.push(loop)
  }

  /**
   * Applies a reloaded configuration (SIGHUP; see reload.ts). `units`: an executor for each
   * runner `planReload` finds added or changed. Throws ConfigError, changing nothing, when the
   * new configuration cannot run (a missing reference flavor, a runner that could never take a job).
   */
  reconfigure(config: Config, units: readonly RunnerUnit[]): Promise<ReloadPlan> {
    return this.reload.apply(config, units)
  }

  /** The configuration in force (the last one loaded). */
  get currentConfig(): Config {
    return this.ctx.config
  }

  /**
   * Starts everything: resumes the jobs of the state file, then intake, progress polling and
   * the orphan sweep. Throws ConfigError when the quota's reference flavor does not exist, or
   * when the quota can never hold a runner's heaviest flavor (unless `allowIdle`).
   */
  async start(): Promise<void> {
    const {ctx} = this
    await this.capacity.computeQuota(true)
    await this.capacity.refuseIdleRunners()
    await this.resumeRecords([...ctx.store.records.values()])
    if (!ctx.quota) this.loops.push(this.capacity.quotaLoop())
    for (const rt of ctx.runners) this.startIntake(rt)
    this.loops.push(this.progress.loop())
    this.loops.push(this.sweep.loop())
    if (this.membership) this.loops.push(this.membership.loop())
  }

  /** Resumes records from their recorded step: those of an earlier run at start, and in a cluster those adopted from a daemon gone. */
  private async resumeRecords(records: readonly JobRecord[]): Promise<void> {
    const {ctx} = this
    const resume = new Resume(ctx)
    for (const stored of records) {
      ctx.deps.addSecret?.(stored.jobToken)
      const rec = await resume.adoptLegacyRunnerName(stored)
      if (!ctx.byUnique.has(rec.runner)) {
        ctx.log.error(
          'a tracked job belongs to a runner that is no longer in the configuration; it stays in the state file, untouched',
          {runner: rec.runner, job: rec.jobId, phase: rec.phase, resource: rec.resourceId},
        )
        continue
      }
      ctx.log.info('resuming tracked job', {
        runner: rec.runner,
        job: rec.jobId,
        phase: rec.phase,
        resource: rec.resourceId,
      })
      this.pipeline.drive(rec.weightUnknown ? await resume.assumeHeaviest(rec) : rec)
    }
    ctx.progressWake.notify()
  }

  /** Resolves when every intake loop has ended (after `maxPollCycles`, or at shutdown). */
  async intakeDone(): Promise<void> {
    await Promise.all(this.intakeLoops)
  }

  /** One orphan sweep now (tests, and the sweep loop). */
  async sweepOnce(): Promise<void> {
    await this.sweep.sweepOnce()
  }

  /**
   * Graceful stop: intake stops at once (long polls aborted), waits are interrupted, steps
   * that must not be cut (a create, a push, a delete) finish; everything is already durable.
   * Bounded by `shutdownTimeoutMs`, on the injected clock. Idempotent.
   */
  shutdown(reason = 'shutdown requested'): Promise<void> {
    const {ctx} = this
    if (this.stopped) return this.stopped
    ctx.stopping = true
    ctx.log.warn(`graceful shutdown: ${reason}`)
    ctx.emit({type: 'shutdown', stage: 'requested', pending: ctx.controls.size, at: ctx.now()})
    ctx.stopController.abort(new AbortedError(reason))
    ctx.capacity.notify()
    ctx.progressWake.notify()
    this.stopped = (async () => {
      const inflight = [...ctx.controls.values()]
        .map((c) => c.driving)
        .filter((p): p is Promise<void> => p !== undefined)
      ctx.emit({type: 'shutdown', stage: 'draining', pending: inflight.length, at: ctx.now()})
      // The stop signal is aborted already: this timer needs a signal of its own.
      const timer = new AbortController()
      const timeout = ctx.deps.clock.sleep(ctx.opts.shutdownTimeoutMs, timer.signal).then(
        () => 'timeout' as const,
        () => 'done' as const,
      )
      const r = await Promise.race([
        Promise.allSettled([...inflight, ...this.loops]).then(() => 'done' as const),
        timeout,
      ])
      timer.abort()
      if (r === 'timeout')
        ctx.log.error(
          `shutdown: operations still running after ${ctx.opts.shutdownTimeoutMs / 1000} s; their last persisted step is resumed at next start`,
        )
      ctx.emit({type: 'shutdown', stage: 'done', pending: 0, at: ctx.now()})
    })()
    return this.stopped
  }

  /** Pauses or resumes intake (operator action). Pausing aborts job requests in flight at once. */
  setIntakePaused(paused: boolean): void {
    const {ctx} = this
    if (paused === ctx.operatorPaused) return
    ctx.operatorPaused = paused
    ctx.log.warn(paused ? 'intake paused by the operator' : 'intake resumed by the operator')
    if (paused) {
      ctx.intakeController.abort(new AbortedError('pause'))
      ctx.intakeController = sharedAbortController()
    }
    ctx.capacity.notify()
  }

  get intakePaused(): boolean {
    return this.ctx.operatorPaused
  }

  get isStopping(): boolean {
    return this.ctx.stopping
  }

  /** The whole picture at this moment: what status, metrics and the TUI show. */
  snapshot(): DispatcherSnapshot {
    const {ctx} = this
    const u = this.capacity.usage()
    const jobs: JobSnapshot[] = [...ctx.store.records.values()]
      .map((r) => jobSnapshot(r, ctx.byUnique.get(r.runner)?.unit.config.name ?? null, ctx.redact))
      .sort((a, b) => a.jobId - b.jobId)
    return {
      at: ctx.now(),
      startedAt: ctx.startedAt,
      quota: {
        total: ctx.quota?.total ?? null,
        explanation: ctx.quota?.explanation ?? null,
        used: u.weight - u.reserved,
        reserved: u.reserved,
      },
      concurrent: {limit: ctx.config.concurrent, used: u.jobs},
      provisioning: {limit: ctx.config.maxConcurrentProvisioning, used: u.provisioning},
      runners: ctx.runners.map((rt) => ({
        runner: rt.unit.config.uniqueName,
        name: rt.unit.config.name ?? null,
        url: rt.unit.config.url,
        executor: rt.unit.config.executor,
        intake: rt.intake,
        minRequestableWeight: rt.minWeight ?? null,
      })),
      jobs,
      pendingDeletions: jobs.filter((j) => j.phase === 'decommissioning' && j.deleteAttempts > 0).length,
      orphansMarked: ctx.store.orphans.size,
      unmarkedResources: [...this.sweep.unmarked.values()].flatMap((m) => [...m.values()]),
      keptResources: ctx.store.kept.size,
      totals: {...ctx.totals},
      recentFailures: [...ctx.recentFailures],
      stopping: ctx.stopping,
    }
  }
}

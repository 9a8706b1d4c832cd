import {backoffDelayMs} from '../backoff.js'
import {linkedSignal, waitNotified} from '../clock.js'
import {AbortedError, CoordinatorError} from '../coordinator/coordinator-errors.js'
import {isJobRejected, JobRejectedError} from '../errors.js'
import type {IntakeState} from '../events.js'
import {jobVariable, type JobPayload} from '../job-payload.js'
import {admissionBlocker, describeBlocker, type IntakeBlocker} from '../quota/admission.js'
import {formatWeight} from '../quota/flavor-weight.js'
import {isFlavorConfigError} from '../quota/quota.js'
import {recordKey, type JobRecord} from '../state/job-record.js'
import type {Capacity} from './capacity.js'
import {clusterAdmission, clusterRecheckMs, clusterRelease} from './cluster-admission.js'
import {oneLine, type DispatcherContext, type RunnerRuntime} from './dispatcher-context.js'
import type {JobPipeline} from './job-pipeline.js'

/**
 * Intake, one loop per runner. A runner asks for a job only when the heaviest job it could
 * receive fits: that weight (and a job and a provisioning slot) is reserved for the request until
 * the answer comes, so the limits hold even with every runner polling at once. When capacity is
 * scarce, the runner that waited longest goes first and nobody holds a long poll (fair shares).
 * A job taken is recorded (fsync) before anything else, then its pipeline starts.
 */
export class Intake {
  constructor(
    private readonly ctx: DispatcherContext,
    private readonly limits: Capacity,
    private readonly pipeline: JobPipeline,
  ) {}

  private setIntake(rt: RunnerRuntime, intake: IntakeState): void {
    const prev = rt.intake
    rt.intake = intake
    // Logged once per kind of pause (quota, concurrent…), not at every change of its figures.
    const kind = (i: IntakeState): string =>
      i.state === 'paused' ? i.blocker.kind : i.state === 'stopped' ? (i.code ?? '') : ''
    const changed = prev.state !== intake.state || kind(prev) !== kind(intake)
    if (!changed) return
    // Every pause is logged once, with its reason and figures; so is the resumption.
    if (intake.state === 'paused')
      this.ctx.log.info(`intake paused: ${intake.reason}`, {
        runner: rt.unit.config.uniqueName,
        runnerName: rt.name,
        blocker: intake.blocker.kind,
      })
    else if (intake.state === 'stopped' && intake.code)
      this.ctx.log.error(`intake stopped: ${intake.reason}`, {
        runner: rt.unit.config.uniqueName,
        runnerName: rt.name,
        code: intake.code,
      })
    else if (prev.state === 'paused' && (intake.state === 'polling' || intake.state === 'long-polling'))
      this.ctx.log.info('intake resumed', {runner: rt.unit.config.uniqueName, runnerName: rt.name})
    this.ctx.emit({type: 'intake', runner: rt.unit.config.uniqueName, intake, at: this.ctx.now()})
  }

  /** One runner's intake: while the limits allow, ask GitLab for a job, record it, start its pipeline. */
  async loop(rt: RunnerRuntime): Promise<void> {
    const uniq = rt.unit.config.uniqueName
    const generation = rt.generation
    let failures = 0
    while (!this.ctx.stopping && !rt.retired && rt.generation === generation) {
      if (this.ctx.opts.maxPollCycles !== undefined && rt.cycles >= this.ctx.opts.maxPollCycles) {
        this.setIntake(rt, {state: 'stopped', reason: `after ${rt.cycles} polling cycles`, code: 'poll_cycles'})
        return
      }
      let minWeight: number
      try {
        minWeight = await rt.unit.executor.minRequestableWeight(this.ctx.stopSignal)
        rt.minWeight = minWeight
      } catch (error) {
        if (this.ctx.stopping) return
        rt.cycles++
        if (isFlavorConfigError(error)) {
          // No job can run until the config (or the catalogue) changes: say so loudly, check again now and then.
          this.setIntake(rt, {state: 'stopped', reason: this.ctx.errText(error), code: 'flavor_config'})
          if (!this.cyclesDone(rt)) await this.ctx.sleep(this.ctx.opts.quotaRetryMs * 6)
          continue
        }
        const wait = this.backoff(++failures)
        this.setIntake(rt, {
          state: 'backoff',
          reason: `cannot weigh this runner's flavors: ${this.ctx.errText(error)}`,
          until: this.ctx.now() + wait,
        })
        await this.ctx.sleep(wait)
        continue
      }
      if (this.limits.neverFits(minWeight)) {
        // Only with --allow-idle (run refuses to start otherwise): this runner can never take a job.
        this.setIntake(rt, {
          state: 'stopped',
          reason: `the quota (${formatWeight(this.ctx.quota!.total)}) can never hold this runner's heaviest flavor (${formatWeight(minWeight)}): raise the quota or set its max flavor`,
          code: 'quota_too_small',
        })
        rt.cycles++
        if (!this.cyclesDone(rt))
          await waitNotified(
            this.ctx.capacity,
            this.ctx.deps.clock,
            this.ctx.opts.quotaRetryMs * 6,
            this.ctx.stopSignal,
          )
        continue
      }
      const u = this.limits.usage()
      const local: IntakeBlocker | undefined = this.ctx.operatorPaused
        ? {kind: 'operator'}
        : this.ctx.clusterDown
          ? {kind: 'state_unavailable'}
          : admissionBlocker({
              quota: this.ctx.quota?.total,
              weightInUse: u.weight,
              jobs: u.jobs,
              concurrent: this.ctx.config.concurrent,
              provisioning: u.provisioning,
              maxProvisioning: this.ctx.config.maxConcurrentProvisioning,
              minRequestableWeight: minWeight,
              ahead: this.limits.waitingAhead(rt),
            })
      if (!local) rt.reserved = minWeight // reserve before asking (in this tick): concurrent runners can never overshoot
      // In a cluster, the shared ledger must grant it too: the limits hold across every daemon.
      const blocker = local ?? (this.ctx.deps.cluster ? await clusterAdmission(this.ctx, rt, minWeight) : undefined)
      if (blocker) {
        rt.reserved = undefined
        this.setIntake(rt, {state: 'paused', reason: describeBlocker(blocker), blocker})
        // Woken as soon as capacity is released; the timeout re-checks limits that move by themselves
        // (held deletes; in a cluster, what the other daemons release).
        const recheck =
          !local || blocker.kind === 'state_unavailable'
            ? clusterRecheckMs(this.ctx)
            : this.ctx.config.checkInterval * 1000
        await waitNotified(this.ctx.capacity, this.ctx.deps.clock, recheck, this.ctx.stopSignal)
        rt.cycles++
        continue
      }
      // While another runner waits for capacity (of this daemon, or in the cluster's line), ask
      // without holding a long poll: the reservation is then held for one round trip, not ~50 s,
      // and the runners take turns.
      const scarce = this.limits.someoneWaiting(rt) || (this.ctx.deps.cluster?.othersWaiting() ?? false)
      this.setIntake(rt, {state: rt.lastUpdate && rt.longPolling && !scarce ? 'long-polling' : 'polling'})
      let result
      const asked = this.ctx.now()
      const linked = linkedSignal(this.ctx.stopSignal, this.ctx.intakeController.signal, rt.stop.signal)
      try {
        result = await this.ctx.deps.coordinator.requestJob(rt.endpoint, {
          ...(rt.lastUpdate && !scarce ? {lastUpdate: rt.lastUpdate} : {}),
          signal: linked.signal,
        })
      } catch (error) {
        rt.reserved = undefined
        await clusterRelease(this.ctx, rt)
        rt.waitingSince = this.ctx.now()
        this.ctx.capacity.notify()
        rt.cycles++
        if (this.ctx.stopping) return
        if (error instanceof AbortedError) continue // the operator paused intake
        failures++
        const wait = this.intakeErrorWait(error, failures)
        const reason = this.ctx.errText(error)
        this.ctx.log.warn(`job request failed; retrying in ${Math.round(wait / 1000)} s`, {runner: uniq, error: reason})
        this.ctx.emit({
          type: 'coordinator-error',
          runner: uniq,
          kind: error instanceof CoordinatorError ? error.kind : 'unexpected',
          message: reason,
          at: this.ctx.now(),
        })
        this.setIntake(rt, {state: 'backoff', reason, until: this.ctx.now() + wait})
        await this.ctx.sleep(wait)
        continue
      } finally {
        linked.dispose()
      }
      failures = 0
      rt.cycles++
      if (result.kind === 'none') {
        rt.reserved = undefined
        await clusterRelease(this.ctx, rt)
        this.ctx.capacity.notify()
        if (result.lastUpdate) rt.lastUpdate = result.lastUpdate
        rt.longPolling = result.longPolling
        // Back of the queue: a runner that waited longer goes first.
        rt.waitingSince = this.ctx.now()
        // A long-poll hold that ended means "ask again": the answer now comes from Rails.
        if (result.holdEnded && !scarce) continue
        // Behind Workhorse long polling, the next request is held until a job comes: ask again at
        // once, unless GitLab keeps answering at once (then fall back to check_interval). When
        // capacity is scarce the request was not held: wait check_interval, like without long polling.
        const quick = this.ctx.now() - asked < 1000
        if (result.longPolling && !scarce && (!quick || rt.quickNones === 0)) {
          rt.quickNones = quick ? rt.quickNones + 1 : 0
          continue
        }
        rt.quickNones = 0
        await this.ctx.sleep(this.ctx.config.checkInterval * 1000)
        rt.waitingSince = this.ctx.now()
        continue
      }
      rt.quickNones = 0
      try {
        if (result.kind === 'unreadable')
          await this.accept(rt, {id: result.job.id, token: result.job.token}, minWeight, result.problem)
        else await this.accept(rt, result.job, minWeight)
      } catch (error) {
        // Whatever a job holds, it is an error of that job, never of the daemon.
        this.ctx.log.error('unexpected error while taking a job; intake goes on', {
          runner: uniq,
          error: this.ctx.errText(error),
        })
      } finally {
        rt.reserved = undefined
        rt.waitingSince = this.ctx.now()
        this.ctx.capacity.notify()
      }
      // Got a job: ask again at once.
    }
  }

  /** `--poll-cycles` reached: the loop ends at its next turn, without waiting. */
  private cyclesDone(rt: RunnerRuntime): boolean {
    return this.ctx.opts.maxPollCycles !== undefined && rt.cycles >= this.ctx.opts.maxPollCycles
  }

  private intakeErrorWait(error: unknown, failures: number): number {
    if (error instanceof CoordinatorError) {
      if (error.kind === 'rate_limited') return Math.max(error.retryAfterMs ?? 60_000, 1000)
      if (error.kind === 'token_revoked') return this.ctx.opts.tokenRevokedPauseMs
    }
    return this.backoff(failures)
  }

  private backoff(failures: number): number {
    return backoffDelayMs(
      failures,
      {baseMs: this.ctx.opts.intakeBackoffBaseMs, maxMs: this.ctx.opts.intakeBackoffMaxMs},
      this.ctx.deps.random,
    )
  }

  /**
   * A job was acquired: weigh it, record it durably, start its pipeline. Never throws.
   * `unreadable`: why its payload could not be read; then only its id and token are used, and
   * the job is failed with that reason in its log.
   */
  private async accept(rt: RunnerRuntime, job: JobPayload, reservedWeight: number, unreadable?: string): Promise<void> {
    const uniq = rt.unit.config.uniqueName
    this.ctx.deps.addSecret?.(job.token)
    this.ctx.totals.acquired++
    const now = this.ctx.now()
    const flavor = unreadable === undefined ? jobVariable(job, 'CI_CLEVER_CLOUD_FLAVOR') : undefined
    const base: JobRecord = {
      runner: uniq,
      jobId: job.id,
      jobToken: job.token,
      phase: 'acquired',
      weight: reservedWeight,
      expectedWeight: reservedWeight,
      ...(unreadable === undefined ? {payload: job} : {}),
      traceOffset: 0,
      acquiredAt: now,
      phaseSince: now,
      ...(flavor === undefined ? {} : {flavor}),
      ...(job.job_info?.project_id === undefined ? {} : {projectId: job.job_info.project_id}),
      ...(typeof job.job_info?.project_name === 'string' ? {projectName: job.job_info.project_name} : {}),
    }
    let rec = base
    try {
      if (unreadable !== undefined)
        throw new JobRejectedError('payload_unreadable', `the job payload cannot be read: ${unreadable}`, {
          jobId: job.id,
        })
      const w = await rt.unit.executor.expectedWeight(job, this.ctx.stopSignal)
      rec = {...base, weight: w, expectedWeight: w}
    } catch (error) {
      if (isJobRejected(error)) {
        // A job that cannot run here (unknown flavor…) is failed with a clear reason; it never stops the daemon.
        rec = {...base, weight: 0, expectedWeight: 0, failure: oneLine(this.ctx.redact(error.message))}
      } else {
        // Cannot weigh it now (PAAS API down?): count the worst case reserved for it and go on.
        this.ctx.log.warn('cannot weigh the job; counting the largest flavor', {
          runner: uniq,
          job: job.id,
          error: this.ctx.errText(error),
        })
      }
    }
    // The record takes over what the reservation held, in the same tick: never count both.
    rt.reserved = undefined
    try {
      await this.ctx.store.put(rec)
    } catch (error) {
      this.ctx.store.records.delete(recordKey(rec.runner, rec.jobId))
      this.ctx.log.error('cannot write the state file: the job is not tracked and will time out in GitLab', {
        runner: uniq,
        job: job.id,
        error: this.ctx.errText(error),
      })
      await clusterRelease(this.ctx, rt)
      return
    }
    this.ctx.progressWake.notify()
    this.ctx.log.info('job acquired', {
      runner: uniq,
      job: job.id,
      project: rec.projectId,
      flavor: rec.flavor,
      weight: Number(formatWeight(rec.weight)),
      ...(rec.failure ? {rejected: rec.failure} : {}),
    })
    this.ctx.emitPhase(rec)
    if (rec.failure) {
      this.ctx.log.error('job cannot run here', {runner: uniq, job: job.id, reason: rec.failure})
      this.ctx.noteFailure(rec, rec.failure)
    }
    this.pipeline.drive(rec)
  }
}

import {AbortedError} from '../coordinator/coordinator-errors.js'
import {isJobRejected, JobRejectedError, PaasRunnerError} from '../errors.js'
import type {Executor, Resource} from '../executor.js'
import {formatWeight} from '../quota/flavor-weight.js'
import {isFenced} from '../state/cluster-port.js'
import {PRE_RUNNING_PHASES, PROVISIONING_PHASES, recordKey, type JobPhase, type JobRecord} from '../state/job-record.js'
import {decommission} from './decommission.js'
import {oneLine, type DispatcherContext, type JobControl, type RunnerRuntime} from './dispatcher-context.js'
import {lostReason} from './executor-reports.js'
import {reportFailure} from './failure-report.js'
import {watchLaunch} from './launch-watch.js'

/** What the phase handlers of other files need from the pipeline. */
export interface PhaseOps {
  /** Persists the next phase (before the side effect it announces) and tells the views. */
  to(rec: JobRecord, phase: JobPhase, changes?: Partial<JobRecord>): Promise<JobRecord>
  /** Removes the record: its slot and weight are released, exactly once. */
  forget(rec: JobRecord, why: string): Promise<void>
}

/**
 * A job's life, one handler per phase, each persisted before its side effect:
 * acquired (acknowledge) → provisioning (create) → provisioned → launching (hand over) →
 * launched (watch the log) → running (the progress loop takes over) → finished →
 * decommissioning (delete) → gone; a launch failure goes through reporting. Cancellation in
 * GitLab is handled here and only here (`cancel`).
 */
export class JobPipeline implements PhaseOps {
  constructor(private readonly ctx: DispatcherContext) {}

  /** Runs the pipeline of a job from its current phase, once at a time per job. */
  drive(rec: JobRecord): void {
    const key = recordKey(rec.runner, rec.jobId)
    const ctl = this.ctx.control(key)
    if (ctl.driving) return
    ctl.driving = this.pipeline(key, ctl).finally(() => {
      ctl.driving = undefined
      if (!this.ctx.store.records.has(key)) this.ctx.controls.delete(key)
    })
  }

  /**
   * GitLab says the job is over. Running: it goes to `finished` (its resource is deleted).
   * Before it ran (canceled): provisioning or launching stops and the resource goes early.
   */
  async over(rec: JobRecord, status: string | undefined): Promise<void> {
    const {ctx} = this
    const key = recordKey(rec.runner, rec.jobId)
    if (rec.phase === 'running') {
      ctx.log.info('job finished', {runner: rec.runner, job: rec.jobId, status})
      let next
      try {
        next = await this.safeTransition(rec, 'finished')
      } catch (error) {
        if (!isFenced(error)) throw error
        this.abandon(key, error)
        return
      }
      this.drive(next)
      return
    }
    const ctl = ctx.control(key)
    try {
      await this.safeTransition(rec, rec.phase, {canceled: true})
    } catch (error) {
      if (!isFenced(error)) throw error
      this.abandon(key, error)
      return
    }
    ctl.cancel.abort(new Error('job canceled in GitLab'))
    if (!ctl.driving) this.drive(rec)
  }

  private async pipeline(key: string, ctl: JobControl): Promise<void> {
    const {ctx} = this
    for (;;) {
      const rec = ctx.current(key)
      if (!rec) return
      const rt = ctx.byUnique.get(rec.runner)
      if (!rt) return
      // At shutdown, stop between steps: everything done so far is durable, the next process resumes here.
      if (ctx.stopping) return
      const lost = lostReason(ctx, rec.phase, key)
      if (lost !== undefined) {
        await this.failLost(rec, lost)
        continue
      }
      if (ctl.cancel.signal.aborted && PRE_RUNNING_PHASES.has(rec.phase)) {
        await this.stopCanceled(rec)
        continue
      }
      try {
        const next = await this.step(rt, rec, ctl)
        if (next === 'park') return
        if (ctx.current(key) === rec) {
          // A step that changed nothing would loop without ever yielding to the event loop
          // (no timer, no signal would run again): wait instead, as after an error.
          ctx.log.error('the job made no progress; retrying later', {
            runner: rec.runner,
            job: rec.jobId,
            phase: rec.phase,
          })
          await ctx.sleep(ctx.opts.deleteRetryBaseMs)
        }
      } catch (error) {
        if (isFenced(error)) {
          this.abandon(key, error)
          return
        }
        if (ctx.stopping && (error instanceof AbortedError || ctx.stopSignal.aborted)) return
        const now = ctx.current(key)
        if (!now) return
        if (error instanceof PaasRunnerError && error.code === 'unknown_phase') {
          ctx.log.error('the job record has an unknown phase: the job is left alone; fix or remove its record', {
            runner: now.runner,
            job: now.jobId,
            phase: now.phase,
          })
          return
        }
        const lostNow = lostReason(ctx, now.phase, key)
        if (lostNow !== undefined) {
          await this.failLost(now, lostNow)
          continue
        }
        if (ctl.cancel.signal.aborted || now.canceled) {
          await this.stopCanceled(now)
          continue
        }
        if (
          now.phase === 'reporting' ||
          now.phase === 'finished' ||
          now.phase === 'decommissioning' ||
          now.phase === 'running' ||
          (now.phase === 'acquired' && !isJobRejected(error))
        ) {
          // Not a launch failure: an unexpected error in a later step. Retry it after a pause.
          ctx.log.error('unexpected error; retrying', {
            runner: now.runner,
            job: now.jobId,
            phase: now.phase,
            error: ctx.errText(error),
          })
          await ctx.sleep(ctx.opts.deleteRetryBaseMs)
          continue
        }
        const reason = oneLine(launchFailureReason(now.phase, error, ctx.errText(error)))
        ctx.log.error('job failed to launch', {
          runner: now.runner,
          job: now.jobId,
          phase: now.phase,
          resource: now.resourceId,
          reason,
        })
        ctx.noteFailure(now, reason)
        await this.safeTransition(now, 'reporting', {failure: reason})
      }
    }
  }

  /** The executor reported the job's resource failed (executor-reports.ts): the job fails with it. */
  private async failLost(rec: JobRecord, reason: string): Promise<void> {
    this.ctx.noteFailure(rec, reason)
    await this.safeTransition(rec, 'reporting', {failure: reason})
  }

  /** Canceled in GitLab while provisioning or launching: no launch; the resource goes early. */
  private async stopCanceled(rec: JobRecord): Promise<void> {
    this.ctx.log.warn('job canceled in GitLab before it ran; stopping it', {
      runner: rec.runner,
      job: rec.jobId,
      phase: rec.phase,
      resource: rec.resourceId,
    })
    await this.safeTransition(rec, 'finished', {canceled: true})
  }

  /** One step of the pipeline. Returns 'park' when the job now waits for someone else (progress loop). */
  private async step(rt: RunnerRuntime, rec: JobRecord, ctl: JobControl): Promise<'next' | 'park'> {
    const {ctx} = this
    const ex = rt.unit.executor
    const signal = ctl.cancel.signal
    const log = {runner: rec.runner, job: rec.jobId}
    switch (rec.phase) {
      case 'acquired': {
        // Two-phase commit: acknowledge the job only now that it is recorded.
        const ack = await ctx.deps.coordinator.confirmJob(
          rt.endpoint,
          {id: rec.jobId, token: rec.jobToken},
          {signal: ctx.stopSignal},
        )
        if (ack === 'gone') {
          await this.forget(
            rec,
            'GitLab no longer assigns this job to us (re-queued or canceled before we acknowledged it)',
          )
          return 'next'
        }
        await this.to(rec, rec.failure ? 'reporting' : 'provisioning')
        return 'next'
      }
      case 'provisioning': {
        if (!rec.payload)
          throw new JobRejectedError('payload_missing', 'the job payload was not kept; cannot provision', {
            jobId: rec.jobId,
          })
        let latest = rec
        const onCreated = async (r: Resource): Promise<void> => {
          // Recorded as soon as it exists: a later failure can never orphan it.
          latest = await this.to(latest, 'provisioned', resourceFields(ex, r))
        }
        const res = await ex.provision(rec.payload, {signal, onCreated})
        if (latest.phase === 'provisioning') await this.to(latest, 'provisioned', resourceFields(ex, res))
        ctx.log.info('resource provisioned', {...log, resource: res.id, weight: Number(formatWeight(res.weight))})
        return 'next'
      }
      case 'provisioned':
        await this.to(rec, 'launching')
        return 'next'
      case 'launching': {
        if (!rec.payload)
          throw new JobRejectedError('payload_missing', 'the job payload was not kept; cannot launch', {
            jobId: rec.jobId,
          })
        const launched = await ex.launch(ex.restore(rec.resource!), rec.payload, {signal})
        if (Math.abs(launched.weight - rec.expectedWeight) > 1e-9) {
          ctx.log.warn(
            `weight corrected from the real resource: ${formatWeight(rec.expectedWeight)} → ${formatWeight(launched.weight)}`,
            {...log, resource: launched.id},
          )
        }
        // The payload is not needed any more (a restart would not launch again): not kept.
        const {payload: _dropped, ...withoutPayload} = rec
        void _dropped
        await this.to({...withoutPayload}, 'launched', {...resourceFields(ex, launched), launchedAt: ctx.now()})
        ctx.totals.launched++
        ctx.log.info('job launched', {...log, resource: launched.id, weight: Number(formatWeight(launched.weight))})
        return 'next'
      }
      case 'launched': {
        await watchLaunch(ctx, rt, rec, ctl)
        const now = ctx.currentOf(rec)
        if (now && now.phase === 'launched') await this.to(now, 'running')
        return 'park'
      }
      case 'running':
        ctx.progressWake.notify()
        return 'park'
      case 'reporting':
        await reportFailure(ctx, this, rt, rec)
        return 'next'
      case 'finished': {
        ctx.totals.finished++
        const keep = rec.canceled ? false : ctx.config.finishedJobsKeepResources
        if (!rec.resource) {
          await this.forget(rec, 'finished, nothing to delete')
        } else if (keep) {
          await ctx.store.keep({
            runner: rec.runner,
            resourceId: rec.resourceId!,
            name: rec.resourceName ?? '',
            jobId: rec.jobId,
            reason: 'paas_finished_jobs_keep_resources',
            at: ctx.now(),
          })
          await this.forget(rec, `finished; resource ${rec.resourceId} kept (paas_finished_jobs_keep_resources)`)
        } else {
          await this.to(rec, 'decommissioning')
        }
        return 'next'
      }
      case 'decommissioning':
        await decommission(ctx, this, rt, rec)
        return 'next'
      default:
        throw new PaasRunnerError('unknown_phase', `unknown phase ${JSON.stringify(rec.phase as unknown)}`, {
          jobId: rec.jobId,
        })
    }
  }

  async to(rec: JobRecord, phase: JobPhase, changes: Partial<JobRecord> = {}): Promise<JobRecord> {
    const next = await this.ctx.store.transition(rec, phase, changes)
    this.ctx.emitPhase(next)
    // Its slot of paas_max_concurrent_provisioning is free: intake waiting for one asks now, not
    // at its next check_interval.
    if (PROVISIONING_PHASES.has(rec.phase) && !PROVISIONING_PHASES.has(phase)) this.ctx.capacity.notify()
    return next
  }

  /** Like `to`, retrying while the state file cannot be written (never throws, except at shutdown). */
  async safeTransition(rec: JobRecord, phase: JobPhase, changes: Partial<JobRecord> = {}): Promise<JobRecord> {
    const {ctx} = this
    for (;;) {
      try {
        return await this.to(rec, phase, changes)
      } catch (error) {
        if (isFenced(error)) throw error // another daemon holds the job now: nothing to retry
        ctx.log.error('cannot write the state file; retrying', {job: rec.jobId, error: ctx.errText(error)})
        await ctx.sleep(1000)
        if (ctx.stopping) return rec
      }
    }
  }

  /**
   * The state refused a change of this job: this daemon no longer holds it (its lease expired, or
   * another daemon adopted it). It is forgotten here, without any change: its holder drives it.
   */
  private abandon(key: string, error: unknown): void {
    const {ctx} = this
    const rec = ctx.current(key)
    ctx.store.records.delete(key)
    if (!rec) return
    ctx.log.warn('this daemon no longer holds the job: it does nothing more for it', {
      runner: rec.runner,
      job: rec.jobId,
      phase: rec.phase,
      error: ctx.errText(error),
    })
    ctx.emit({
      type: 'job-phase',
      runner: rec.runner,
      jobId: rec.jobId,
      phase: 'gone',
      weight: 0,
      at: ctx.now(),
      ...(rec.resourceId ? {resourceId: rec.resourceId} : {}),
    })
    ctx.capacity.notify()
  }

  async forget(rec: JobRecord, why: string): Promise<void> {
    const {ctx} = this
    await ctx.store.delete(rec.runner, rec.jobId)
    ctx.deps.retireSecret?.(rec.jobToken)
    ctx.log.info(`job done: ${why}`, {runner: rec.runner, job: rec.jobId})
    ctx.emit({
      type: 'job-phase',
      runner: rec.runner,
      jobId: rec.jobId,
      phase: 'gone',
      weight: 0,
      at: ctx.now(),
      ...(rec.resourceId ? {resourceId: rec.resourceId} : {}),
    })
    ctx.dropIfRetiredAndIdle(rec.runner)
    ctx.capacity.notify()
  }
}

function resourceFields(ex: Executor, r: Resource): Partial<JobRecord> {
  return {
    resource: ex.serialise(r),
    resourceId: r.id,
    resourceName: r.name,
    weight: r.weight,
    ...(r.flavor ? {flavor: r.flavor} : {}),
  }
}

function launchFailureReason(phase: JobPhase, error: unknown, text: string): string {
  if (isJobRejected(error)) return text
  const what =
    phase === 'provisioning' || phase === 'acquired'
      ? 'could not create the PAAS resource'
      : phase === 'launched'
        ? 'could not confirm the job started'
        : 'could not launch the job on its PAAS resource'
  return `${what}: ${text}`
}

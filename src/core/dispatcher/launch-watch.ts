import {linkedSignal} from '../clock.js'
import {CoordinatorError} from '../coordinator/coordinator-errors.js'
import {JobRejectedError} from '../errors.js'
import type {JobRecord} from '../state/job-record.js'
import type {DispatcherContext, JobControl, RunnerRuntime} from './dispatcher-context.js'

/**
 * Phase `launched` (§2.6): the job counts as running once its log has something we did not
 * write. Without a watch token, it counts as running once handed over. Throws a
 * JobRejectedError (`launch_timeout`) when nothing shows up in time.
 */
export async function watchLaunch(
  ctx: DispatcherContext,
  rt: RunnerRuntime,
  rec: JobRecord,
  ctl: JobControl,
): Promise<void> {
  const watch = rt.unit.config.traceWatch
  if (!watch?.token) {
    if (!rt.warnedNoWatch) {
      rt.warnedNoWatch = true
      ctx.log.warn(
        'no token for job-log watching ([runners.paas_job_trace_watch] token): jobs count as started once handed over',
        {runner: rec.runner},
      )
    }
    return
  }
  if (rec.projectId === undefined) return
  const deadline = (rec.launchedAt ?? ctx.now()) + watch.timeoutSeconds * 1000
  const linked = linkedSignal(ctx.stopSignal, ctl.cancel.signal)
  try {
    await watchLoop(
      ctx,
      rt,
      rec,
      {token: watch.token, timeoutSeconds: watch.timeoutSeconds, pollStep: watch.pollStep},
      deadline,
      linked.signal,
    )
  } finally {
    linked.dispose()
  }
}

async function watchLoop(
  ctx: DispatcherContext,
  rt: RunnerRuntime,
  rec: JobRecord,
  watch: {token: string; timeoutSeconds: number; pollStep: number},
  deadline: number,
  waitSignal: AbortSignal,
): Promise<void> {
  for (;;) {
    try {
      const text = await ctx.deps.coordinator.readLog(rt.unit.config.url, rec.projectId!, rec.jobId, watch.token, {
        signal: waitSignal,
      })
      if (Buffer.byteLength(text) > rec.traceOffset) {
        ctx.log.info('job fully launched (job log activity detected)', {
          runner: rec.runner,
          job: rec.jobId,
          afterMs: ctx.now() - (rec.launchedAt ?? ctx.now()),
        })
        return
      }
    } catch (error) {
      if (waitSignal.aborted) throw error
      // Transient errors are retried until the deadline; a refused token fails the launch.
      if (!(error instanceof CoordinatorError) || error.kind === 'unexpected') throw error
      ctx.log.warn('cannot read the job log yet; will retry', {
        runner: rec.runner,
        job: rec.jobId,
        error: ctx.errText(error),
      })
    }
    if (ctx.now() >= deadline) {
      throw new JobRejectedError('launch_timeout', `Job not active (no log) after ${watch.timeoutSeconds} seconds`, {
        jobId: rec.jobId,
      })
    }
    await ctx.deps.clock.sleep(Math.min(watch.pollStep * 1000, Math.max(0, deadline - ctx.now()) + 1), waitSignal)
  }
}

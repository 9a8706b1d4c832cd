import {AbortedError} from '../coordinator/coordinator-errors.js'
import {recordKey, type JobRecord} from '../state/job-record.js'
import {oneLine, type DispatcherContext, type RunnerRuntime} from './dispatcher-context.js'
import type {PhaseOps} from './job-pipeline.js'

const RED = (s: string): string => `\u001b[31m${s}\u001b[0m\n`

/**
 * Phase `reporting` (§2.7–2.8): a red line with the reason in the job log (once, even across
 * restarts), then the job reported failed (3 attempts, 30 s apart, interruptible), then its
 * resource deleted, or kept for inspection when `paas_decommission_launch_failures = false`.
 */
export async function reportFailure(
  ctx: DispatcherContext,
  ops: PhaseOps,
  rt: RunnerRuntime,
  rec: JobRecord,
): Promise<void> {
  const job = {id: rec.jobId, token: rec.jobToken}
  const reason = oneLine(ctx.redact(rec.failure ?? 'the job could not be launched'))
  try {
    if (!rec.failureLogged) {
      // The executor's lines first (deps.jobLog), kept until now: the inner runner no longer writes this log.
      const notes = (ctx.controls.get(recordKey(rec.runner, rec.jobId))?.notes ?? []).map((n) => `${n}\n`).join('')
      const res = await ctx.deps.coordinator.appendLog(
        rt.endpoint,
        job,
        rec.traceOffset,
        notes + RED(`heptapod-paas-runner: ${reason}`),
        {signal: ctx.stopSignal},
      )
      rec = await ops.to(rec, 'reporting', {
        failureLogged: true,
        ...(res === 'not-running' ? {} : {traceOffset: res.offset}),
      })
    }
  } catch (error) {
    if (ctx.stopping) throw new AbortedError('report')
    ctx.log.warn('could not write the failure reason to the job log', {
      runner: rec.runner,
      job: rec.jobId,
      error: ctx.errText(error),
    })
  }
  let reported = false
  for (let attempt = 1; attempt <= ctx.opts.reportAttempts && !reported; attempt++) {
    try {
      const r = await ctx.deps.coordinator.reportFailed(rt.endpoint, job, {signal: ctx.stopSignal})
      reported = true
      ctx.log.warn(
        r === 'reported'
          ? 'job reported as failed to launch'
          : 'reporting was not necessary: the job is not running any more',
        {runner: rec.runner, job: rec.jobId},
      )
    } catch (error) {
      if (ctx.stopping) throw new AbortedError('report')
      ctx.log.error(`could not report the job as failed (attempt ${attempt}/${ctx.opts.reportAttempts})`, {
        runner: rec.runner,
        job: rec.jobId,
        error: ctx.errText(error),
      })
      if (attempt < ctx.opts.reportAttempts) await ctx.sleepOrThrow(ctx.opts.reportRetryDelayMs)
    }
  }
  if (!reported)
    ctx.log.error('giving up reporting the job: GitLab will time it out', {runner: rec.runner, job: rec.jobId})
  if (rec.resource && ctx.config.decommissionLaunchFailures) {
    await ops.to(rec, 'decommissioning')
  } else if (rec.resource) {
    await ctx.store.keep({
      runner: rec.runner,
      resourceId: rec.resourceId!,
      name: rec.resourceName ?? '',
      jobId: rec.jobId,
      reason: 'launch failure kept for inspection (paas_decommission_launch_failures = false)',
      at: ctx.now(),
    })
    await ops.forget(rec, `launch failure; resource ${rec.resourceId} kept for inspection`)
  } else {
    await ops.forget(rec, 'launch failure reported')
  }
}

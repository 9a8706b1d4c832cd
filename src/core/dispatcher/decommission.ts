import {backoffDelayMs} from '../backoff.js'
import type {Resource} from '../executor.js'
import type {JobRecord} from '../state/job-record.js'
import type {DispatcherContext, RunnerRuntime} from './dispatcher-context.js'
import type {PhaseOps} from './job-pipeline.js'

/**
 * Phase `decommissioning`: deletes the resource, once per call; a failure is recorded and the
 * pipeline calls again after a capped backoff. After `deleteHoldMs` of failures the job stops
 * counting against the limits (the capacity rule), and is still retried.
 */
export async function decommission(
  ctx: DispatcherContext,
  ops: PhaseOps,
  rt: RunnerRuntime,
  rec: JobRecord,
): Promise<void> {
  const t0 = ctx.now()
  let resource: Resource
  try {
    resource = rt.unit.executor.restore(rec.resource!)
  } catch (error) {
    ctx.log.error(
      'cannot read the recorded resource; it cannot be deleted automatically: delete it by hand, then remove job from the state file',
      {runner: rec.runner, job: rec.jobId, resource: rec.resourceId, error: ctx.errText(error)},
    )
    await ops.to(rec, 'decommissioning', {
      deleteAttempts: (rec.deleteAttempts ?? 0) + 1,
      lastDeleteError: ctx.errText(error),
    })
    await ctx.sleepOrThrow(ctx.opts.deleteRetryMaxMs)
    return
  }
  try {
    const outcome = await rt.unit.executor.decommission(resource, {})
    ctx.totals.decommissioned++
    ctx.log.info(outcome === 'absent' ? 'resource already gone' : 'resource deleted', {
      runner: rec.runner,
      job: rec.jobId,
      resource: resource.id,
    })
    ctx.emit({
      type: 'decommissioned',
      runner: rec.runner,
      jobId: rec.jobId,
      resourceId: resource.id,
      outcome,
      at: ctx.now(),
      durationMs: ctx.now() - t0,
    })
    await ops.forget(rec, 'resource deleted')
  } catch (error) {
    const attempt = (rec.deleteAttempts ?? 0) + 1
    const wait = backoffDelayMs(
      attempt,
      {baseMs: ctx.opts.deleteRetryBaseMs, maxMs: ctx.opts.deleteRetryMaxMs},
      ctx.deps.random,
    )
    const msg = ctx.errText(error)
    ctx.log.warn(`resource deletion failed (attempt ${attempt}); retrying in ${Math.round(wait / 1000)} s`, {
      runner: rec.runner,
      job: rec.jobId,
      resource: resource.id,
      error: msg,
    })
    ctx.emit({
      type: 'delete-retry',
      runner: rec.runner,
      jobId: rec.jobId,
      resourceId: resource.id,
      attempt,
      error: msg,
      nextAt: ctx.now() + wait,
      at: ctx.now(),
    })
    // Same phase, same phaseSince: the start of the deletion decides when the weight stops counting.
    await ctx.store.put({...rec, deleteAttempts: attempt, lastDeleteError: msg})
    await ctx.sleepOrThrow(wait)
    ctx.capacity.notify()
  }
}

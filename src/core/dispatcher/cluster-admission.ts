import {hasCode} from '../errors.js'
import type {IntakeBlocker} from '../quota/admission.js'
import type {DispatcherContext, RunnerRuntime} from './dispatcher-context.js'

/** How soon a runner refused by the cluster asks again: what the other daemons release wakes nothing here. */
export function clusterRecheckMs(ctx: DispatcherContext): number {
  return Math.min(ctx.opts.clusterRetryMs, ctx.config.checkInterval * 1000)
}

/**
 * In a cluster: reserves the request's weight in the shared ledger (one transaction under its
 * lock). Undefined when granted (or without a cluster); the reservation becomes the job's record
 * when one comes, or is released.
 */
export async function clusterAdmission(
  ctx: DispatcherContext,
  rt: RunnerRuntime,
  minWeight: number,
): Promise<IntakeBlocker | undefined> {
  const cluster = ctx.deps.cluster
  if (!cluster) return undefined
  if (!cluster.leaseValid()) return {kind: 'state_unavailable'}
  try {
    const b = await cluster.reserve(rt.unit.config.uniqueName, minWeight, {
      quota: ctx.quota!.total,
      concurrent: ctx.config.concurrent,
      maxProvisioning: ctx.config.maxConcurrentProvisioning,
      deleteHoldMs: ctx.opts.deleteHoldMs,
      // Its place in line lasts three chances to ask again (a loaded host may miss one), and over a
      // wait on a local limit (check_interval: a sibling runner's request in flight, for one).
      waitingFreshMs: Math.max(3 * clusterRecheckMs(ctx), ctx.config.checkInterval * 1000 + 2 * clusterRecheckMs(ctx)),
    })
    if (!b) return ctx.clusterDown || ctx.stopping ? {kind: 'state_unavailable'} : undefined
    switch (b.kind) {
      case 'quota':
        return {kind: 'cluster', limit: 'quota', used: b.used, total: b.total}
      case 'turn':
        return {kind: 'turn', after: b.after}
      default:
        return {kind: 'cluster', limit: b.kind, used: b.jobs, total: b.limit}
    }
  } catch (error) {
    // The database answered, with what this daemon cannot read (a later version's ledger): this
    // request waits, the database is not unreachable (that would stop every runner's intake).
    if (hasCode(error, 'ledger_answer')) {
      ctx.log.warn("the cluster's admission ledger gave an answer this daemon cannot read; no job is taken", {
        runner: rt.unit.config.uniqueName,
        error: ctx.errText(error),
      })
      return {kind: 'state_unavailable'}
    }
    if (!ctx.stopping)
      ctx.log.warn("the cluster's admission ledger cannot be asked now", {
        runner: rt.unit.config.uniqueName,
        error: ctx.errText(error),
      })
    ctx.stateUnreachable()
    return {kind: 'state_unavailable'}
  }
}

/** Drops the ledger's reservation of a request that brought no job (never throws: a reservation left is replaced at the next request). */
export async function clusterRelease(ctx: DispatcherContext, rt: RunnerRuntime): Promise<void> {
  try {
    await ctx.deps.cluster?.release(rt.unit.config.uniqueName)
  } catch {
    // The database is away: the reservation goes with this daemon's next request or its lease.
  }
}

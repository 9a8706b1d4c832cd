import type {UnmarkedResource} from '../executor.js'
import type {ClusterPort} from '../state/cluster-port.js'
import type {DispatcherContext, RunnerRuntime} from './dispatcher-context.js'

/** A resource named like ours without an ownership marker, as last listed. */
export interface UnmarkedEntry {
  runner: string
  resourceId: string
  name: string
}

/**
 * The orphan sweep: only resources whose ownership marker names this daemon and runner are ever
 * deleted, and only after the grace period without a record; look-alikes are only reported.
 */
export class OrphanSweep {
  /** Per runner: resources named like ours without a marker, as last listed (reported, never deleted). */
  readonly unmarked = new Map<string, Map<string, UnmarkedEntry>>()
  /** In a cluster, one daemon sweeps at a time, and a resource is an orphan only if no daemon knows it. */
  cluster: ClusterPort | undefined

  constructor(private readonly ctx: DispatcherContext) {}

  async loop(): Promise<void> {
    // A sweep at least once per grace period, so that an orphan goes within two grace periods;
    // never more often than once a second, never less often than `sweepIntervalMs` (10 min).
    while (!this.ctx.stopping) {
      await this.sweepOnce()
      // Read at each turn: a reload may change the grace period.
      const graceMs = this.ctx.config.orphanGracePeriod * 1000
      await this.ctx.sleep(
        graceMs > 0 ? Math.min(this.ctx.opts.sweepIntervalMs, Math.max(graceMs, 1000)) : this.ctx.opts.sweepIntervalMs,
      )
    }
  }

  /**
   * Lists each runner's resources. Only a resource whose ownership marker names this daemon and
   * runner can be deleted: one that no record knows is marked, and deleted only if it is still
   * unknown after `paas_orphan_grace_period` (never when it is 0). Every job we run has a record
   * written before its resource is created, so a resource of a running job is never unknown.
   * Resources named like ours without a marker are reported once, never deleted.
   */
  async sweepOnce(): Promise<void> {
    const graceMs = this.ctx.config.orphanGracePeriod * 1000
    const cluster = this.cluster
    if (cluster) {
      try {
        if (!(await cluster.holdSweep())) return // another daemon sweeps
      } catch (error) {
        if (!this.ctx.stopping)
          this.ctx.log.warn('orphan sweep: cannot tell which daemon sweeps; skipped', {error: this.ctx.errText(error)})
        return
      }
    }
    for (const rt of [...this.ctx.runners]) {
      if (rt.retired) continue // no longer configured: its own jobs end, nothing else is touched
      if (this.ctx.stopping) return
      const uniq = rt.unit.config.uniqueName
      let listing
      try {
        listing = await rt.unit.executor.listOwned({signal: this.ctx.stopSignal})
      } catch (error) {
        if (!this.ctx.stopping)
          this.ctx.log.warn('orphan sweep: cannot list resources', {runner: uniq, error: this.ctx.errText(error)})
        continue
      }
      this.reportUnmarked(rt, listing.unmarked)
      const knownIds = new Set<string>()
      const knownJobs = new Set<number>()
      for (const r of this.ctx.store.records.values()) {
        if (r.runner !== uniq) continue
        knownJobs.add(r.jobId)
        if (r.resourceId) knownIds.add(r.resourceId)
      }
      for (const k of this.ctx.store.kept.values()) if (k.runner === uniq) knownIds.add(k.resourceId)
      if (cluster) {
        // Read after the listing: every resource listed had its record committed before it was created.
        try {
          const all = await cluster.known(uniq)
          for (const id of all.resourceIds) knownIds.add(id)
          for (const j of all.jobIds) knownJobs.add(j)
        } catch (error) {
          if (!this.ctx.stopping)
            this.ctx.log.warn('orphan sweep: cannot read what the other daemons track; skipped', {
              runner: uniq,
              error: this.ctx.errText(error),
            })
          continue
        }
      }
      const present = new Set<string>()
      for (const o of listing.owned) {
        present.add(o.id)
        if (knownIds.has(o.id) || (o.jobId !== undefined && knownJobs.has(o.jobId))) {
          await this.ctx.store.unmarkOrphan(uniq, o.id)
          continue
        }
        const mark = this.ctx.store.orphans.get(`${uniq}/${o.id}`)
        if (!mark) {
          await this.ctx.store.markOrphan({
            runner: uniq,
            resourceId: o.id,
            name: o.name,
            ...(o.jobId === undefined ? {} : {jobId: o.jobId}),
            firstSeenAt: this.ctx.now(),
            resource: rt.unit.executor.serialise(o.resource),
          })
          this.ctx.log.warn(
            graceMs > 0
              ? 'orphan sweep: found a resource of ours that no job record knows; it will be deleted if still unknown after the grace period'
              : 'orphan sweep: found a resource of ours that no job record knows; paas_orphan_grace_period = 0, so it is only reported',
            {runner: uniq, resource: o.id, name: o.name, gracePeriodSeconds: graceMs / 1000},
          )
          this.ctx.emit({
            type: 'orphan',
            runner: uniq,
            resourceId: o.id,
            name: o.name,
            action: 'marked',
            at: this.ctx.now(),
          })
          continue
        }
        if (graceMs === 0 || this.ctx.now() - mark.firstSeenAt < graceMs) continue
        try {
          await rt.unit.executor.decommission(o.resource, {})
          await this.ctx.store.unmarkOrphan(uniq, o.id)
          this.ctx.log.warn('orphan sweep: deleted an orphaned resource', {runner: uniq, resource: o.id, name: o.name})
          this.ctx.emit({
            type: 'orphan',
            runner: uniq,
            resourceId: o.id,
            name: o.name,
            action: 'deleted',
            at: this.ctx.now(),
          })
        } catch (error) {
          this.ctx.log.warn('orphan sweep: could not delete an orphaned resource; will retry', {
            runner: uniq,
            resource: o.id,
            error: this.ctx.errText(error),
          })
        }
      }
      for (const m of [...this.ctx.store.orphans.values()]) {
        if (m.runner === uniq && !present.has(m.resourceId)) {
          await this.ctx.store.unmarkOrphan(uniq, m.resourceId)
          this.ctx.emit({
            type: 'orphan',
            runner: uniq,
            resourceId: m.resourceId,
            name: m.name,
            action: 'cleared',
            at: this.ctx.now(),
          })
        }
      }
    }
  }

  /** Logs each unmarked resource once (at WARN), and keeps the current list for the snapshot. */
  private reportUnmarked(rt: RunnerRuntime, found: readonly UnmarkedResource[]): void {
    const uniq = rt.unit.config.uniqueName
    const before = this.unmarked.get(uniq) ?? new Map()
    const now = new Map<string, {runner: string; resourceId: string; name: string}>()
    for (const u of found) {
      now.set(u.id, {runner: uniq, resourceId: u.id, name: u.name})
      if (before.has(u.id)) continue
      this.ctx.log.warn(
        "orphan sweep: a resource is named like this runner's but carries no ownership marker (made by the original heptapod-paas-runner, or by someone else); it is never deleted automatically: delete it by hand once you know it is unused",
        {runner: uniq, resource: u.id, name: u.name},
      )
      this.ctx.emit({type: 'unmarked-resource', runner: uniq, resourceId: u.id, name: u.name, at: this.ctx.now()})
    }
    this.unmarked.set(uniq, now)
  }
}

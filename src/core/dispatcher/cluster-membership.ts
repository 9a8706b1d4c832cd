import {Notifier, waitNotified, sharedAbortController} from '../clock.js'
import {AbortedError} from '../coordinator/coordinator-errors.js'
import type {ClusterPort, LeaseState} from '../state/cluster-port.js'
import type {JobRecord} from '../state/job-record.js'
import type {DispatcherContext} from './dispatcher-context.js'

/**
 * This daemon's life in a cluster (PostgreSQL state with several daemons): its lease is renewed
 * every third of `cluster_lease_seconds`, and after each renewal the jobs of daemons whose lease
 * expired are adopted and resumed from their recorded step, as at start-up.
 *
 * When a renewal fails (the database does not answer), intake stops at once: job requests in
 * flight are aborted and no new one is made until a renewal succeeds. When the lease cannot be
 * trusted any more (expired, or not renewed for a lease minus a margin), the daemon must not act
 * on its jobs: other daemons adopt them. It stops (`lost` resolves) and a supervisor restarts it,
 * when it joins again as a new member.
 */
export class ClusterMembership {
  private lostReason: ((why: string) => void) | undefined
  /** Resolves with the reason once the lease is lost: the daemon then stops. */
  readonly lost: Promise<string>

  constructor(
    private readonly ctx: DispatcherContext,
    private readonly cluster: ClusterPort,
    private readonly resume: (records: JobRecord[]) => Promise<void>,
  ) {
    this.lost = new Promise((resolve) => (this.lostReason = resolve))
    // Intake found the database away (its admission failed): stop the other runners' requests now, not at the next renewal.
    ctx.stateUnreachable = () => this.setDown(true)
  }

  async loop(): Promise<void> {
    const {ctx, cluster} = this
    const period = Math.max(250, Math.floor(cluster.leaseMs / 3))
    while (!ctx.stopping && !ctx.leaseLost) {
      // While the database is away, try every second: intake resumes as soon as it answers.
      await waitNotified(
        this.wake,
        ctx.deps.clock,
        ctx.clusterDown ? Math.min(period, ctx.opts.clusterRetryMs) : period,
        ctx.stopSignal,
      )
      if (ctx.stopping) return
      await this.tick()
    }
  }

  /** Notified when intake finds the database away: the loop checks at the shorter period at once. */
  private readonly wake = new Notifier()

  /** One renewal, then the adoptions it allows. */
  async tick(): Promise<LeaseState> {
    const {cluster} = this
    let state: LeaseState
    try {
      state = await cluster.renew()
    } catch {
      state = cluster.leaseValid() ? 'unreachable' : 'lost'
    }
    if (state === 'lost') {
      this.onLost()
      return state
    }
    if (state === 'unreachable') {
      this.setDown(true)
      return state
    }
    this.setDown(false)
    await this.adopt()
    return state
  }

  /** Takes the jobs of the daemons gone, and resumes them. */
  async adopt(): Promise<void> {
    const {ctx, cluster} = this
    let taken
    try {
      taken = await cluster.adopt()
    } catch (error) {
      ctx.log.warn('cannot look for jobs to adopt now; next lease renewal', {error: ctx.errText(error)})
      return
    }
    for (const e of taken.errors) ctx.log.error(e)
    if (taken.records.length === 0) return
    ctx.log.warn(
      `adopted ${taken.records.length} job(s) of daemons whose lease expired; resuming each from its recorded step`,
      {jobs: taken.records.map((r) => `${r.runner}/${r.jobId}:${r.phase}`)},
    )
    await this.resume(taken.records)
    ctx.capacity.notify()
  }

  private setDown(down: boolean): void {
    const {ctx} = this
    if (ctx.clusterDown === down) return
    ctx.clusterDown = down
    this.wake.notify()
    if (down) {
      ctx.log.error(
        'the state database does not answer: intake stops at once (job requests in flight are aborted); jobs go on, their changes wait for the database',
      )
      ctx.intakeController.abort(new AbortedError('state database unreachable'))
      ctx.intakeController = sharedAbortController()
    } else {
      ctx.log.warn('the state database answers again: intake resumes')
    }
    ctx.capacity.notify()
  }

  private onLost(): void {
    const {ctx} = this
    if (ctx.leaseLost) return
    ctx.leaseLost = true
    ctx.clusterDown = true
    const why = `this daemon's lease of the cluster expired (not renewed within ${Math.round(this.cluster.leaseMs / 1000)} s): its jobs go to the other daemons; it stops and joins again when restarted`
    ctx.log.error(why)
    ctx.intakeController.abort(new AbortedError('lease lost'))
    ctx.intakeController = sharedAbortController()
    ctx.capacity.notify()
    this.lostReason?.(why)
  }
}

import {afterEach, describe, expect, it} from 'vitest'

import type {ClusterLimits, ClusterPort, LeaseState, LedgerBlocker} from '../../src/core/state/cluster-port.js'
import type {JobRecord} from '../../src/core/state/job-record.js'
import {LedgerAnswerError} from '../../src/adapters/state/pg/ledger-answer.js'
import {Harness, type HarnessOptions} from '../helpers/dispatcher-harness.js'

/** The cluster as the dispatcher sees it: a ledger that grants or refuses, a lease, adoptions. */
class FakeCluster implements ClusterPort {
  readonly daemonId = 'test:1:x'
  readonly leaseMs = 3000
  refuse: LedgerBlocker | Error | undefined
  lease: LeaseState = 'held'
  readonly reserved = new Map<string, number>()
  readonly calls: string[] = []
  toAdopt: JobRecord[] = []
  store: Harness['store'] | undefined
  async renew(): Promise<LeaseState> {
    return this.lease
  }
  leaseValid(): boolean {
    return this.lease !== 'lost'
  }
  async reserve(runner: string, weight: number, _limits: ClusterLimits): Promise<LedgerBlocker | undefined> {
    this.calls.push(`reserve ${runner}`)
    if (this.refuse instanceof Error) throw this.refuse
    if (this.refuse) return this.refuse
    this.reserved.set(runner, weight)
    return undefined
  }
  /** Requests wait in the ledger's line (of other daemons, say). */
  waiting = false
  othersWaiting(): boolean {
    return this.waiting
  }
  async release(runner: string): Promise<void> {
    this.calls.push(`release ${runner}`)
    this.reserved.delete(runner)
  }
  async adopt(): Promise<{records: JobRecord[]; errors: string[]}> {
    const records = this.toAdopt.splice(0)
    for (const r of records) await this.store!.put(r)
    return {records, errors: []}
  }
  async holdSweep(): Promise<boolean> {
    return false
  }
  async known() {
    return {jobIds: new Set<number>(), resourceIds: new Set<string>()}
  }
  async leave(): Promise<void> {}
}

const harnesses: Harness[] = []
async function harness(cluster: FakeCluster, o: HarnessOptions = {}): Promise<Harness> {
  const h = new Harness({...o, cluster})
  harnesses.push(h)
  await h.start()
  cluster.store = h.store
  return h
}
afterEach(() => {
  for (const h of harnesses.splice(0)) {
    h.dispatcher.shutdown('test end').catch(() => {})
    h.dispose()
  }
})

describe('the dispatcher in a cluster', () => {
  it('asks GitLab for a job only once the shared ledger granted it, and waits (never fails a job) while it refuses', async () => {
    const cluster = new FakeCluster()
    cluster.refuse = {kind: 'quota', used: 50, total: 53.8, needs: 13.5}
    const h = await harness(cluster)
    h.gitlab.enqueue({flavor: 'XS'})
    await h.clock.runUntil(() => cluster.calls.length >= 3, 60_000)
    expect(h.gitlab.calls.requestJob).toBe(0)
    const intake = h.snapshot().runners[0]!.intake
    expect(intake).toMatchObject({state: 'paused', blocker: {kind: 'cluster', limit: 'quota'}})
    expect((intake as {reason: string}).reason).toMatch(/cluster-wide quota reached across the daemons: 50\.0\/53\.8/)
    cluster.refuse = undefined
    await h.clock.runUntil(() => h.snapshot().jobs.some((j) => j.phase === 'running'), 60_000)
    expect(h.gitlab.calls.requestJob).toBeGreaterThan(0)
    // The job's record took over its reservation; the requests that brought nothing released theirs.
    await h.clock.runUntil(() => cluster.calls.at(-1)!.startsWith('release'), 60_000)
  })

  it('the database away: intake stops at once (no request), and resumes when it answers', async () => {
    const cluster = new FakeCluster()
    const h = await harness(cluster)
    await h.clock.runUntil(() => h.gitlab.calls.requestJob > 0, 60_000)
    cluster.refuse = new Error('Connection terminated unexpectedly')
    cluster.lease = 'unreachable'
    await h.clock.runUntil(() => h.snapshot().runners[0]!.intake.state === 'paused', 60_000)
    expect(h.snapshot().runners[0]!.intake).toMatchObject({blocker: {kind: 'state_unavailable'}})
    const asked = h.gitlab.calls.requestJob
    await h.clock.advance(10_000)
    expect(h.gitlab.calls.requestJob).toBe(asked)
    expect(h.logs.some((l) => l.msg.startsWith('the state database does not answer: intake stops at once'))).toBe(true)
    cluster.refuse = undefined
    cluster.lease = 'held'
    await h.clock.runUntil(() => h.gitlab.calls.requestJob > asked, 60_000)
    expect(h.logs.some((l) => l.msg === 'the state database answers again: intake resumes')).toBe(true)
  })

  it('an answer of the ledger it cannot read: no job is taken, and the database does not count as away', async () => {
    const cluster = new FakeCluster()
    cluster.refuse = new LedgerAnswerError('kind: Invalid input')
    const h = await harness(cluster)
    await h.clock.runUntil(() => cluster.calls.length >= 3, 60_000)
    expect(h.gitlab.calls.requestJob).toBe(0)
    expect(h.snapshot().runners[0]!.intake).toMatchObject({state: 'paused', blocker: {kind: 'state_unavailable'}})
    expect(
      h.logs.some((l) => l.msg.startsWith("the cluster's admission ledger gave an answer this daemon cannot read")),
    ).toBe(true)
    expect(h.logs.some((l) => l.msg.startsWith('the state database does not answer'))).toBe(false)
    cluster.refuse = undefined
    await h.clock.runUntil(() => h.gitlab.calls.requestJob > 0, 60_000)
  })

  it('holds no long poll while requests wait in the ledger (capacity is scarce across the cluster): its reservation would keep them waiting', async () => {
    const cluster = new FakeCluster()
    cluster.waiting = true
    const h = await harness(cluster)
    h.gitlab.longPoll = true
    await h.clock.advance(30_000)
    expect(h.gitlab.heldPolls).toBe(0)
    expect(h.gitlab.calls.requestJob).toBeGreaterThan(2) // asked each check_interval, never held
    expect(h.snapshot().runners[0]!.intake.state).not.toBe('long-polling')
    // Nobody waits any more: the next request is held.
    cluster.waiting = false
    await h.clock.advance(10_000)
    expect(h.gitlab.heldPolls).toBe(1)
  })

  it('resumes the jobs it adopts from their recorded step; a lost lease stops the daemon', async () => {
    const cluster = new FakeCluster()
    const h = await harness(cluster)
    const job = h.gitlab.enqueue({flavor: 'XS'})
    h.gitlab.jobs.get(job.id)!.status = 'running' // acknowledged by the daemon that died
    cluster.toAdopt = [
      {
        runner: h.config.runners[0]!.uniqueName,
        jobId: job.id,
        jobToken: job.token,
        phase: 'provisioning',
        weight: 2.378,
        expectedWeight: 2.378,
        traceOffset: 0,
        acquiredAt: 0,
        phaseSince: 0,
        payload: job.payload,
      },
    ]
    h.gitlab.jobs.delete(job.id) // GitLab will not hand it out again: only adoption brings it here
    h.gitlab.jobs.set(job.id, {...job, status: 'running'})
    await h.clock.runUntil(() => h.snapshot().jobs.some((j) => j.jobId === job.id && j.phase === 'running'), 60_000)
    expect(h.cloud.list().filter((r) => r.jobId === job.id)).toHaveLength(1)
    let lost: string | undefined
    void h.dispatcher.leaseLost.then((why) => (lost = why))
    cluster.lease = 'lost'
    await h.clock.runUntil(() => lost !== undefined, 60_000)
    expect(lost).toMatch(/lease of the cluster expired/)
  })
})

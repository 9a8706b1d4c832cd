import {afterEach, describe, expect, it} from 'vitest'

import type {JobRef, RunnerEndpoint} from '../../src/core/coordinator/coordinator.js'
import {GitLabClient} from '../../src/core/coordinator/gitlab-client.js'
import type {HttpRequest, HttpResponse} from '../../src/core/coordinator/http-port.js'
import {Harness, type HarnessOptions} from '../helpers/dispatcher-harness.js'
import {FakeCoordinator} from '../helpers/fake-coordinator.js'

/**
 * Rules of the dispatcher that a broken product would otherwise get away with: each test here
 * was written against a deliberate bug (see MUTATION.md) and fails with it.
 */
const harnesses: Harness[] = []
async function harness(o: HarnessOptions = {}): Promise<Harness> {
  const h = new Harness(o)
  harnesses.push(h)
  return h.start()
}
afterEach(async () => {
  for (const h of harnesses.splice(0)) {
    h.dispatcher.shutdown('test end').catch(() => {})
    h.dispose()
    expect(h.earlyDeletes, 'a resource was deleted while its job was still running in GitLab').toEqual([])
    expect(h.writeAheadViolations, 'a side effect ran ahead of its durable record').toEqual([])
  }
})

const running =
  (h: Harness, n = 1) =>
  () =>
    h.snapshot().jobs.filter((j) => j.phase === 'running').length === n
const idle = (h: Harness) => () => h.snapshot().jobs.length === 0 && h.snapshot().concurrent.used === 0

/** Weights written down independently of the code (bc -l: e(1.25*l(GiB))). */
const W = {M: 13.45434264405943}

describe('resource lifetime', () => {
  it('never deletes a resource while GitLab still runs its job, however long it runs', async () => {
    const h = await harness()
    const job = h.gitlab.enqueue()
    await h.clock.runUntil(running(h), 600_000, 'running')
    const checks = h.gitlab.calls.jobStatus
    await h.clock.advance(30 * 60_000)
    expect(h.gitlab.calls.jobStatus - checks).toBeGreaterThanOrEqual(59) // it kept asking, every 30 s…
    expect(h.cloud.resources.size).toBe(1) // …and kept the resource
    expect(h.snapshot().jobs[0]!.phase).toBe('running')
    h.gitlab.finish(job.id, 'success')
    await h.clock.runUntil(() => h.cloud.resources.size === 0, 60_000, 'deleted once over')
  })

  it('nor after a restart: a running job resumed from the state file keeps its resource', async () => {
    const h = await harness()
    const job = h.gitlab.enqueue()
    await h.clock.runUntil(running(h), 600_000, 'running')
    h.crash()
    await h.clock.settle()
    await h.start()
    await h.clock.advance(30 * 60_000)
    expect(h.cloud.resources.size).toBe(1)
    expect(h.snapshot().jobs.map((j) => j.phase)).toEqual(['running'])
    h.gitlab.finish(job.id, 'success')
    await h.clock.runUntil(() => h.cloud.resources.size === 0, 60_000, 'deleted once over')
  })
})

describe('progress polling', () => {
  it('follows job_progress_poll_interval when it is not the default: 5 s, spread over the jobs', async () => {
    const h = await harness({extraGlobals: 'job_progress_poll_interval = 5'})
    for (let i = 0; i < 4; i++) h.gitlab.enqueue({flavor: 'XS'})
    await h.clock.runUntil(running(h, 4), 600_000, '4 running')
    const before = h.gitlab.calls.jobStatus
    await h.clock.advance(60_000)
    // 4 jobs × 60 s / 5 s = 48 checks, one every 1.25 s.
    expect(h.gitlab.calls.jobStatus - before).toBeGreaterThanOrEqual(46)
    expect(h.gitlab.calls.jobStatus - before).toBeLessThanOrEqual(50)
  })

  it('sees a finished job within one interval', async () => {
    const h = await harness({extraGlobals: 'job_progress_poll_interval = 5'})
    const job = h.gitlab.enqueue()
    await h.clock.runUntil(running(h), 600_000, 'running')
    await h.clock.advance(2_000)
    h.gitlab.finish(job.id)
    const t0 = h.clock.now()
    await h.clock.runUntil(() => h.events.some((e) => e.type === 'job-finished'), 60_000, 'finish seen')
    expect(h.clock.now() - t0).toBeLessThanOrEqual(5_000)
  })
})

/** GitLab whose `GET /job` answers 200 with the job's status, through the real client's parsing. */
class GitLabAnswering200 extends FakeCoordinator {
  private readonly client = new GitLabClient({
    http: {request: async (req) => this.answer(req)},
    sleep: async () => {},
    now: () => 0,
    random: () => 0.5,
    systemId: 'r_0123456789ab',
    info: {name: 'test', version: '0.0.0', revision: 'x', platform: 'linux', architecture: 'amd64'},
  })

  override async jobStatus(
    runner: RunnerEndpoint,
    job: JobRef,
    o: {signal?: AbortSignal} = {},
  ): Promise<{finished: boolean; status?: string}> {
    this.calls.jobStatus++
    return this.client.jobStatus(runner, job, o)
  }

  private answer(req: HttpRequest): HttpResponse {
    const j = [...this.jobs.values()].find((x) => x.token === req.headers?.['job-token'])
    if (!j) return {status: 401, headers: {'content-type': 'application/json'}, body: '{"message":"401 Unauthorized"}'}
    return {
      status: 200,
      headers: {'content-type': 'application/json'},
      body: JSON.stringify({id: j.id, status: j.status}),
    }
  }
}

describe('a job canceled in GitLab, seen as 200 {"status": "canceled"} on GET /job', () => {
  it('while it runs: its resource is deleted', async () => {
    const h = await harness({coordinator: new GitLabAnswering200()})
    const job = h.gitlab.enqueue()
    await h.clock.runUntil(running(h), 600_000, 'running')
    await h.clock.advance(120_000)
    expect(h.cloud.resources.size).toBe(1) // 200 running: nothing happens
    h.gitlab.finish(job.id, 'canceled')
    await h.clock.runUntil(idle(h), 120_000, 'cleaned up after the cancel')
    expect(h.cloud.resources.size).toBe(0)
    expect(h.events).toContainEqual(expect.objectContaining({type: 'job-finished', jobId: job.id, status: 'canceled'}))
  })

  it('before it runs: launching stops, the resource goes, nothing is reported', async () => {
    const h = await harness({coordinator: new GitLabAnswering200(), traceWatch: true})
    const job = h.gitlab.enqueue()
    await h.clock.runUntil(() => h.snapshot().jobs[0]?.phase === 'launched', 600_000, 'launched')
    h.gitlab.finish(job.id, 'canceled')
    await h.clock.runUntil(idle(h), 120_000, 'cleaned up after the cancel')
    expect(h.cloud.resources.size).toBe(0)
    expect(job.reported).toBe(0)
    expect(h.snapshot().jobs).toEqual([])
  })
})

describe('the delete hold', () => {
  it('a resource whose delete keeps failing stops counting after deleteHoldMs (not before), and is still retried', async () => {
    const h = await harness({concurrent: 1})
    h.cloud.failNext('decommission', new Error('Clever API answered 503'), 1000)
    const a = h.gitlab.enqueue()
    await h.clock.runUntil(running(h), 600_000, 'A running')
    h.gitlab.finish(a.id)
    await h.clock.runUntil(() => h.snapshot().pendingDeletions === 1, 600_000, 'A delete failing')
    const since = h.snapshot().jobs[0]!.phaseSince
    const b = h.gitlab.enqueue()
    // Held: A still takes the only slot for 10 minutes.
    await h.clock.advance(since + 600_000 - 5_000 - h.clock.now())
    expect(b.status).toBe('pending')
    expect(h.snapshot().concurrent.used).toBe(1)
    // Past the hold: B is taken while A's delete goes on being retried.
    await h.clock.runUntil(() => b.status === 'running' && running(h)(), 600_000, 'B running')
    const bAcquired = h.events.find((e) => e.type === 'job-phase' && e.jobId === b.id && e.phase === 'acquired')!.at
    expect(bAcquired).toBeGreaterThan(since + 600_000)
    expect(bAcquired).toBeLessThanOrEqual(since + 600_000 + 3_000 + 1) // within one check_interval
    const retries = h.events.filter((e) => e.type === 'delete-retry').length
    await h.clock.advance(3_600_000)
    expect(h.events.filter((e) => e.type === 'delete-retry').length).toBeGreaterThan(retries)
    expect([...h.cloud.resources.values()].map((r) => r.jobId).sort()).toEqual([a.id, b.id])
  })
})

describe('the quota check and float noise', () => {
  it('three M jobs run at once in a quota of 3 × M (M + M + M is a hair above 3 × M in floats)', async () => {
    // 3 × 13.45434264405943 computed as w * 3, minus w + w, is 3.6e-15 below w: without the
    // tolerance the third job would wait forever.
    const h = await harness({referenceFlavor: 'M', referenceJobs: 3, maxFlavor: 'M'})
    expect(h.snapshot().quota.total).toBeCloseTo(3 * W.M, 9)
    for (let i = 0; i < 3; i++) h.gitlab.enqueue({flavor: 'M'})
    await h.clock.runUntil(running(h, 3), 600_000, 'three M jobs running together')
  })

  it('but a fourth does not fit', async () => {
    const h = await harness({referenceFlavor: 'M', referenceJobs: 3, maxFlavor: 'M'})
    const jobs = Array.from({length: 4}, () => h.gitlab.enqueue({flavor: 'M'}))
    await h.clock.runUntil(running(h, 3), 600_000, 'three running')
    await h.clock.advance(600_000)
    expect(jobs.filter((j) => j.status === 'pending')).toHaveLength(1)
    expect(h.snapshot().runners[0]!.intake).toMatchObject({
      state: 'paused',
      reason: 'quota 40.4/40.4 used; largest flavor needs 13.5',
      blocker: {kind: 'quota'},
    })
  })
})

describe('a state file that refuses writes for a while (failNextWrites)', () => {
  it.each([
    'acquired',
    'provisioning',
    'provisioned',
    'launching',
    'launched',
    'running',
    'finished',
    'decommissioning',
  ] as const)(
    'after the %s record: the job still ends (run or failed with the reason), no resource is left, nothing runs ahead of its record',
    async (phase) => {
      const h = await harness()
      let armed = true
      h.dispatcher.events.on((e) => {
        if (armed && e.type === 'job-phase' && e.phase === phase) {
          armed = false
          h.file.failNextWrites = 2
        }
      })
      const job = h.gitlab.enqueue()
      // The inner runner finishes the job once it runs (which is what leads to the later phases).
      await h.clock.runUntil(() => running(h)() || (!armed && idle(h)()), 3_600_000, 'running, or over already')
      if (running(h)()) h.gitlab.finish(job.id)
      await h.clock.runUntil(() => !armed && idle(h)(), 3_600_000, 'over')
      // Today a write error during set-up fails the job (the reason names the write error); later ones are retried.
      expect(['success', 'failed']).toContain(job.status)
      if (job.status === 'failed') expect(job.log).toContain('EIO: simulated write failure')
      expect(h.cloud.resources.size).toBe(0)
      expect(h.cloud.createdCount).toBeLessThanOrEqual(1)
      expect(
        h.logs.some((l) => (l.level === 'error' && /state file/.test(l.msg)) || /EIO/.test(String(l.fields.error))),
      ).toBe(true)
    },
  )
})

describe('the operator pause', () => {
  it('aborts the held poll at once, takes no job while paused, and takes it after resuming', async () => {
    const h = await harness()
    h.gitlab.longPoll = true
    await h.clock.runUntil(() => h.gitlab.heldPolls === 1, 60_000, 'a held long poll')
    h.dispatcher.setIntakePaused(true)
    await h.clock.settle()
    expect(h.gitlab.heldPolls).toBe(0)
    const calls = h.gitlab.calls.requestJob
    const job = h.gitlab.enqueue()
    await h.clock.advance(3_600_000)
    expect(job.status).toBe('pending')
    expect(h.gitlab.calls.requestJob).toBe(calls)
    expect(h.snapshot().runners[0]!.intake).toEqual({
      state: 'paused',
      reason: 'paused by the operator',
      blocker: {kind: 'operator'},
    })
    h.dispatcher.setIntakePaused(false)
    await h.clock.runUntil(() => job.status === 'running' && running(h)(), 60_000, 'taken after resume')
  })

  it('lets the jobs already taken run to their end while paused', async () => {
    const h = await harness()
    const job = h.gitlab.enqueue()
    await h.clock.runUntil(running(h), 600_000, 'running')
    h.dispatcher.setIntakePaused(true)
    h.gitlab.finish(job.id)
    await h.clock.runUntil(
      () => h.cloud.resources.size === 0 && h.snapshot().jobs.length === 0,
      600_000,
      'finished and deleted while paused',
    )
  })
})

import {afterEach, describe, expect, it} from 'vitest'

import {CoordinatorError} from '../../src/core/coordinator/coordinator-errors.js'
import {Harness, HARNESS_SYSTEM_ID} from '../helpers/dispatcher-harness.js'
import {knownWeight} from '../helpers/known-weights.js'
import {MemoryStateFile} from '../helpers/memory-state-file.js'

const harnesses: Harness[] = []
async function harness(o: ConstructorParameters<typeof Harness>[0] = {}): Promise<Harness> {
  const h = new Harness(o)
  harnesses.push(h)
  return h.start()
}
afterEach(async () => {
  for (const h of harnesses.splice(0)) {
    h.dispatcher.shutdown('test end').catch(() => {})
    h.dispose()
    // Every test also checks two invariants: nothing deleted while GitLab runs its job, and no side effect
    // (acknowledge, create, launch, delete) before the record announcing it is synced.
    expect(h.earlyDeletes, 'a resource was deleted while its job was still running in GitLab').toEqual([])
    expect(h.writeAheadViolations, 'a side effect ran ahead of its durable record').toEqual([])
  }
})

const idle = (h: Harness) => () => {
  const s = h.snapshot()
  return (
    s.jobs.length === 0 && s.concurrent.used === 0 && [...h.gitlab.jobs.values()].every((j) => j.status !== 'pending')
  )
}

/** Some launched resource whose job still runs: the inner runner has something to finish. */
const launchedRunning = (h: Harness) => () =>
  [...h.cloud.resources.values()].some((r) => r.launched && h.gitlab.jobs.get(r.jobId)?.status === 'running')

/** The inner runner: finishes every launched job of the cloud. */
function finishLaunched(h: Harness, status: 'success' | 'failed' = 'success'): void {
  for (const r of h.cloud.resources.values()) if (r.launched) h.gitlab.finish(r.jobId, status)
}

describe('dispatcher: the job pipeline', () => {
  it('takes jobs, runs them, deletes their resources; counters return to 0', async () => {
    const h = await harness()
    const jobs = [h.gitlab.enqueue({flavor: 'S'}), h.gitlab.enqueue({flavor: 'M'}), h.gitlab.enqueue()]
    await h.clock.runUntil(
      () => h.cloud.resources.size === 3 && [...h.cloud.resources.values()].every((r) => r.launched),
      600_000,
      'all launched',
    )
    expect(h.snapshot().jobs.map((j) => j.phase)).toEqual(['running', 'running', 'running'])
    finishLaunched(h)
    await h.clock.runUntil(idle(h), 600_000, 'idle')
    expect(h.cloud.resources.size).toBe(0)
    expect(h.cloud.createdCount).toBe(3)
    expect(h.store.records.size).toBe(0)
    expect(h.snapshot()).toMatchObject({quota: {used: 0, reserved: 0}, concurrent: {used: 0}, provisioning: {used: 0}})
    expect(jobs.every((j) => j.status === 'success')).toBe(true)
  })

  it('corrects the weight from the real resource at launch', async () => {
    const h = await harness()
    h.gitlab.enqueue({flavor: 'XS'})
    await h.clock.runUntil(() => h.snapshot().jobs[0]?.phase === 'running')
    expect(h.snapshot().jobs[0]!.weight).toBeCloseTo(2.3784142300054, 10) // XS: 2 GiB ^ 1.25
  })

  it('fails a job with an unknown flavor cleanly, and runs the others', async () => {
    const h = await harness()
    const bad = h.gitlab.enqueue({flavor: 'HUGE'})
    const good = h.gitlab.enqueue({flavor: 'S'})
    await h.clock.runUntil(
      () => bad.status === 'failed' && h.cloud.resources.size === 1 && [...h.cloud.resources.values()][0]!.launched,
    )
    // The dispatcher leaves reason and exit code to the client's defaults (script_failure, 103, spec §2.8),
    // which the GitLab client test checks on the request body and e2e-clever on what the simulator received.
    expect(bad).toMatchObject({status: 'failed', reported: 1, failureReport: {}})
    expect(bad.log).toBe(
      "\u001b[31mheptapod-paas-runner: Selected flavor 'HUGE' is not available, possible choices are XS, S, M, L, XL, 2XL, 3XL\u001b[0m\n",
    )
    finishLaunched(h)
    await h.clock.runUntil(idle(h))
    expect(good.status).toBe('success')
  })

  it('reports a provisioning failure with a red line; no resource, counters back to 0', async () => {
    const h = await harness()
    h.cloud.failNext('provision', new Error('Clever API answered 500'))
    const job = h.gitlab.enqueue()
    await h.clock.runUntil(idle(h))
    expect(job.status).toBe('failed')
    expect(job.log).toContain('could not create the PAAS resource: Clever API answered 500')
    expect(h.cloud.resources.size).toBe(0)
  })

  it('deletes the resource of a launch failure, or keeps it when paas_decommission_launch_failures = false', async () => {
    const h = await harness()
    h.cloud.failNext('launch', new Error('git push refused'))
    const job = h.gitlab.enqueue()
    await h.clock.runUntil(idle(h))
    expect([job.status, h.cloud.resources.size, h.cloud.createdCount]).toEqual(['failed', 0, 1])

    const k = await harness({extraGlobals: 'paas_decommission_launch_failures = false'})
    k.cloud.failNext('launch', new Error('git push refused'))
    const kept = k.gitlab.enqueue()
    await k.clock.runUntil(idle(k))
    expect([kept.status, k.cloud.resources.size, k.store.kept.size]).toEqual(['failed', 1, 1])
    await k.dispatcher.sweepOnce()
    await k.clock.advance(3_600_000)
    await k.dispatcher.sweepOnce()
    expect(k.cloud.resources.size).toBe(1) // the sweep leaves kept resources alone
  })

  it('retries the failure report 3 times, 30 s apart, then goes on', async () => {
    const h = await harness()
    h.cloud.failNext('provision', new Error('boom'))
    const err = new CoordinatorError('unavailable', 'PUT /jobs/:id', '503')
    h.gitlab.fail('reportFailed', err, 3)
    const t0 = h.clock.now()
    h.gitlab.enqueue()
    await h.clock.runUntil(idle(h))
    expect(h.gitlab.calls.reportFailed).toBe(3)
    expect(h.clock.now() - t0).toBeGreaterThanOrEqual(60_000)
    expect(h.info(/giving up reporting/)).toHaveLength(1)
  })

  it('a job canceled in GitLab while launching is stopped and its resource deleted early', async () => {
    const h = await harness({traceWatch: true})
    const job = h.gitlab.enqueue()
    await h.clock.runUntil(() => h.snapshot().jobs[0]?.phase === 'launched')
    h.gitlab.finish(job.id, 'canceled')
    await h.clock.runUntil(idle(h), 120_000, 'canceled job cleaned up')
    expect(h.cloud.resources.size).toBe(0)
    expect(h.events.some((e) => e.type === 'decommissioned')).toBe(true)
    expect(job.reported).toBe(0)
  })

  it('waits for the job log to show life when a watch token is set', async () => {
    const h = await harness({traceWatch: true})
    const job = h.gitlab.enqueue()
    await h.clock.runUntil(() => h.snapshot().jobs[0]?.phase === 'launched')
    await h.clock.advance(60_000)
    expect(h.snapshot().jobs[0]!.phase).toBe('launched')
    h.gitlab.write(job.id, 'Running with gitlab-runner\n')
    await h.clock.runUntil(() => h.snapshot().jobs[0]?.phase === 'running', 30_000)
  })

  it('fails the launch when the job log stays silent past the timeout', async () => {
    const h = await harness({traceWatch: true})
    const job = h.gitlab.enqueue()
    await h.clock.runUntil(idle(h), 3_600_000)
    expect(job.status).toBe('failed')
    expect(job.log).toContain('Job not active (no log) after 300 seconds')
    expect(h.cloud.resources.size).toBe(0)
  })

  it('retries a failed delete with capped backoff; it is shown as a pending deletion meanwhile', async () => {
    const h = await harness()
    for (let i = 0; i < 4; i++) h.cloud.failNext('decommission', new Error('Clever API answered 503'))
    h.gitlab.enqueue()
    await h.clock.runUntil(() => h.snapshot().jobs[0]?.phase === 'running')
    finishLaunched(h)
    await h.clock.runUntil(() => h.snapshot().pendingDeletions === 1)
    expect(h.snapshot().concurrent.used).toBe(1)
    await h.clock.runUntil(idle(h))
    expect(h.events.filter((e) => e.type === 'delete-retry').map((e) => (e as {attempt: number}).attempt)).toEqual([
      1, 2, 3, 4,
    ])
    expect(h.cloud.resources.size).toBe(0)
  })

  it('paas_finished_jobs_keep_resources frees the slot and the weight, keeps the resource', async () => {
    const h = await harness({extraGlobals: 'paas_finished_jobs_keep_resources = true'})
    h.gitlab.enqueue()
    await h.clock.runUntil(() => h.snapshot().jobs[0]?.phase === 'running')
    finishLaunched(h)
    await h.clock.runUntil(idle(h))
    expect([h.cloud.resources.size, h.store.kept.size]).toEqual([1, 1])
  })
})

describe('dispatcher: limits', () => {
  /** Checks the invariants at every event: nothing ever exceeds its limit. */
  function watchInvariants(h: Harness): {peakJobs: number; peakWeight: number; peakProvisioning: number} {
    const peaks = {peakJobs: 0, peakWeight: 0, peakProvisioning: 0}
    h.dispatcher.events.on(() => {
      const s = h.dispatcher.snapshot()
      peaks.peakJobs = Math.max(peaks.peakJobs, s.concurrent.used)
      peaks.peakWeight = Math.max(peaks.peakWeight, s.quota.used + s.quota.reserved, h.cloud.liveWeight())
      peaks.peakProvisioning = Math.max(peaks.peakProvisioning, s.provisioning.used)
    })
    return peaks
  }

  it('never exceeds concurrent', async () => {
    const h = await harness({concurrent: 2})
    const peaks = watchInvariants(h)
    const jobs = Array.from({length: 6}, () => h.gitlab.enqueue({flavor: 'XS'}))
    while (jobs.some((j) => j.status !== 'success')) {
      await h.clock.runUntil(launchedRunning(h))
      finishLaunched(h)
    }
    await h.clock.runUntil(idle(h))
    expect(peaks.peakJobs).toBe(2)
  })

  it('never exceeds the quota, even with three runners polling at once', async () => {
    // Quota: 2 × M = 26.9; the largest flavor a runner accepts is M (13.5), so 2 jobs at a time.
    const h = await harness({runners: 3, referenceFlavor: 'M', referenceJobs: 2, maxFlavor: 'M'})
    const peaks = watchInvariants(h)
    const jobs = Array.from({length: 9}, (_, i) => h.gitlab.enqueue({flavor: i % 2 ? 'M' : 'XS'}))
    while (jobs.some((j) => j.status === 'pending' || j.status === 'running')) {
      await h.clock.runUntil(launchedRunning(h), 3_600_000)
      finishLaunched(h)
    }
    await h.clock.runUntil(idle(h))
    const quota = 2 * knownWeight(8192)
    expect(peaks.peakWeight).toBeLessThanOrEqual(quota + 1e-9)
    expect(h.cloud.peakWeight()).toBeLessThanOrEqual(quota + 1e-9)
    expect(jobs.every((j) => j.status === 'success')).toBe(true)
  })

  it('logs each intake pause once, with its reason and figures', async () => {
    const h = await harness({referenceFlavor: 'M', referenceJobs: 1, maxFlavor: 'M'})
    h.gitlab.enqueue({flavor: 'M'})
    await h.clock.runUntil(() => h.snapshot().jobs[0]?.phase === 'running')
    await h.clock.advance(120_000)
    const paused = h.info(/^intake paused/)
    expect(paused.map((l) => l.msg)).toEqual(['intake paused: quota 13.5/13.5 used; largest flavor needs 13.5'])
    expect(paused[0]!.level).toBe('info')
  })

  it('never has more jobs provisioning than paas_max_concurrent_provisioning', async () => {
    const h = await harness({maxProvisioning: 2, traceWatch: true})
    const peaks = watchInvariants(h)
    const jobs = Array.from({length: 5}, () => h.gitlab.enqueue({flavor: 'XS'}))
    await h.clock.runUntil(() => h.snapshot().jobs.filter((j) => j.phase === 'launched').length === 2)
    await h.clock.advance(60_000)
    expect(h.snapshot().jobs).toHaveLength(2)
    for (const j of jobs) h.gitlab.write(j.id, 'started\n')
    await h.clock.runUntil(() => h.snapshot().jobs.filter((j) => j.phase === 'running').length === 5, 3_600_000)
    expect(peaks.peakProvisioning).toBe(2)
  })
  it('a job that leaves provisioning frees its slot at once: the next job is asked for then, not at the next check_interval', async () => {
    const h = await harness({maxProvisioning: 1, traceWatch: true, extraGlobals: 'check_interval = 3600'})
    const first = h.gitlab.enqueue({flavor: 'XS'})
    const second = h.gitlab.enqueue({flavor: 'XS'})
    await h.clock.runUntil(() => h.snapshot().jobs[0]?.phase === 'launched')
    await h.clock.advance(60_000)
    expect(second.status).toBe('pending')
    h.gitlab.write(first.id, 'started\n')
    // The trace watch sees the first job run within its poll step (10 s); an hour's check_interval is not waited.
    await h.clock.runUntil(() => second.status === 'running', 60_000, 'the second job taken')
  })
})

describe('dispatcher: coordinator trouble', () => {
  it('backs off on 503 and takes the job once GitLab recovers', async () => {
    const h = await harness()
    h.gitlab.fail('requestJob', new CoordinatorError('unavailable', 'POST /jobs/request', '503 after 5 attempts'), 8)
    const job = h.gitlab.enqueue()
    await h.clock.runUntil(() => job.status === 'running', 600_000)
    expect(h.events.filter((e) => e.type === 'coordinator-error')).toHaveLength(8)
    expect(h.snapshot().runners[0]!.intake.state).not.toBe('stopped')
  })

  it('polls progress every job_progress_poll_interval, spread across jobs', async () => {
    const h = await harness()
    for (let i = 0; i < 10; i++) h.gitlab.enqueue({flavor: 'XS'})
    await h.clock.runUntil(() => h.snapshot().jobs.filter((j) => j.phase === 'running').length === 10)
    const before = h.gitlab.calls.jobStatus
    await h.clock.advance(300_000)
    const perJobPerMinute = (h.gitlab.calls.jobStatus - before) / 10 / 5
    expect(perJobPerMinute).toBeGreaterThanOrEqual(1.9)
    expect(perJobPerMinute).toBeLessThanOrEqual(2.1)
  })

  it('polls every job in turn: each about once per interval, including jobs that came and went meanwhile', async () => {
    const h = await harness()
    const perJob = new Map<number, number>()
    h.gitlab.beforeStatus = async (_r, job) => void perJob.set(job.id, (perJob.get(job.id) ?? 0) + 1)
    const jobs = Array.from({length: 10}, () => h.gitlab.enqueue({flavor: 'XS'}))
    await h.clock.runUntil(() => h.snapshot().jobs.filter((j) => j.phase === 'running').length === 10)
    // One job ends and another comes while the walk goes on: the others keep their pace.
    await h.clock.advance(45_000)
    h.gitlab.finish(jobs[3]!.id)
    const late = h.gitlab.enqueue({flavor: 'XS'})
    await h.clock.runUntil(() => late.status === 'running')
    perJob.clear()
    await h.clock.advance(300_000) // 10 intervals of 30 s
    const counts = [...jobs.filter((_, i) => i !== 3), late].map((j) => perJob.get(j.id) ?? 0)
    for (const n of counts) expect(n).toBeGreaterThanOrEqual(9)
    for (const n of counts) expect(n).toBeLessThanOrEqual(11)
  })

  it('long-polls without spinning, and shutdown aborts the held request at once', async () => {
    const h = await harness()
    h.gitlab.longPoll = true
    await h.clock.advance(10_000)
    expect(h.gitlab.heldPolls).toBe(1)
    const calls = h.gitlab.calls.requestJob
    await h.clock.advance(600_000)
    expect(h.gitlab.calls.requestJob).toBe(calls) // held: no new requests
    const job = h.gitlab.enqueue()
    await h.clock.runUntil(() => job.status === 'running')
    const stopped = h.dispatcher.shutdown('SIGTERM')
    await h.clock.settle()
    await stopped
    expect(h.gitlab.heldPolls).toBe(0)
  })
})

describe('dispatcher: crash safety', () => {
  it('resumes after a crash at each step without creating a second resource', async () => {
    for (const phase of [
      'acquired',
      'provisioning',
      'provisioned',
      'launching',
      'launched',
      'running',
      'finished',
      'decommissioning',
    ] as const) {
      const h = await harness({traceWatch: true})
      let crashed = false
      // Crash right after the phase is durable, before the side effect it announces.
      h.dispatcher.events.on((e) => {
        if (!crashed && e.type === 'job-phase' && e.phase === phase) {
          crashed = true
          h.crash()
        }
      })
      const job = h.gitlab.enqueue()
      h.gitlab.write(job.id, 'started\n')
      await h.clock.runUntil(
        () => crashed || (job.status === 'running' && launchedRunning(h)()),
        600_000,
        `${phase}: reached`,
      )
      if (!crashed && launchedRunning(h)()) finishLaunched(h)
      await h.clock.runUntil(() => crashed, 600_000, `${phase}: crashed`)
      await h.clock.settle()
      await h.start()
      await h.clock.runUntil(() => launchedRunning(h)() || job.status !== 'running', 600_000, `${phase}: running again`)
      finishLaunched(h)
      await h.clock.runUntil(idle(h), 600_000, `${phase}: idle`)
      expect([phase, h.cloud.createdCount, h.cloud.resources.size, job.status]).toEqual([phase, 1, 0, 'success'])
    }
  })

  it('deletes an orphan with our marker after the grace period; never a tracked, foreign or unmarked resource', async () => {
    const h = new Harness({options: {sweepIntervalMs: 300_000}, extraGlobals: 'paas_orphan_grace_period = 600'})
    harnesses.push(h)
    const ours = {systemId: HARNESS_SYSTEM_ID, runner: 'tok0abcd'}
    const orphan = h.cloud.create('hpd-job-tok0abcd-999', 'M', 13.45, 999, ours)
    // Same runner, another daemon: same name prefix, another system id.
    const otherDaemon = h.cloud.create('hpd-job-tok0abcd-777', 'M', 13.45, 777, {
      systemId: 'r_someoneelse',
      runner: 'tok0abcd',
    })
    // Named like ours, no marker at all (the original's apps, a person's).
    const unmarked = h.cloud.create('hpd-job-tok0abcd-555', 'M', 13.45, 555)
    const otherRunner = h.cloud.create('hpd-job-otherrun-5', 'M', 13.45, 5, {
      systemId: HARNESS_SYSTEM_ID,
      runner: 'otherrun',
    })
    await h.start()
    const job = h.gitlab.enqueue()
    await h.clock.runUntil(() => h.snapshot().jobs[0]?.phase === 'running')
    await h.clock.advance(1_000)
    expect(h.store.orphans.has(`tok0abcd/${orphan.id}`)).toBe(true)
    expect(h.snapshot().unmarkedResources).toEqual([{runner: 'tok0abcd', resourceId: unmarked.id, name: unmarked.name}])
    await h.clock.advance(1_200_000)
    expect(h.cloud.resources.has(orphan.id)).toBe(false)
    for (const kept of [otherDaemon, unmarked, otherRunner]) expect(h.cloud.resources.has(kept.id)).toBe(true)
    expect([...h.cloud.resources.values()].some((r) => r.jobId === job.id)).toBe(true)
    expect(h.events.filter((e) => e.type === 'orphan').map((e) => (e as {action: string}).action)).toEqual([
      'marked',
      'deleted',
    ])
    // Reported once, not at every sweep.
    expect(h.events.filter((e) => e.type === 'unmarked-resource')).toHaveLength(1)
    expect(h.logs.filter((l) => l.msg.includes('carries no ownership marker'))).toHaveLength(1)
  })

  it('counts a job imported from an old dump without any weight as the heaviest flavor the runner may get', async () => {
    const h = new Harness({maxFlavor: 'L', referenceFlavor: '3XL', referenceJobs: 2})
    harnesses.push(h)
    const res = h.cloud.create('hpd-job-tok0abcd-41', 'L', 0, 41, {systemId: HARNESS_SYSTEM_ID, runner: 'tok0abcd'})
    // The original's format: no expected_weight, a resource dump without weight.
    h.file = new MemoryStateFile(
      JSON.stringify({
        launched: [
          {
            runner_name: 'tok0abcd',
            job_id: 41,
            token: 'tok41',
            paas_resource: {id: res.id, name: res.name, launched: true},
          },
        ],
      }),
    )
    await h.start()
    // The memory executor's L is 12 GiB: 12^1.25 = 12 × 1.861209… = 22.33451… (not the original's 1).
    expect(h.snapshot().jobs.find((j) => j.jobId === 41)?.weight).toBeCloseTo(22.33451, 4)
    expect(h.store.records.get('tok0abcd/41')?.weightUnknown).toBeUndefined()
  })

  it('moves a job of the original state file, keyed by the first 8 characters of a glrt- token, to its runner', async () => {
    const h = new Harness({tokens: ['glrt-t1_AbCdEfGhIjKlMnOp']})
    harnesses.push(h)
    const res = h.cloud.create('hpd-job-glrt-t1_-61', 'M', 13.45, 61)
    h.file = new MemoryStateFile(
      JSON.stringify({
        launched: [
          {
            runner_name: 'glrt-t1_',
            job_id: 61,
            token: 'tok61',
            expected_weight: 13.45,
            paas_resource: {id: res.id, name: res.name, weight: 13.45, launched: true},
          },
        ],
      }),
    )
    await h.start()
    expect([...h.store.records.keys()]).toEqual(['t1_AbCdEf/61'])
    expect(h.logs.some((l) => l.msg.includes('no longer in the configuration'))).toBe(false)
  })

  it('with paas_orphan_grace_period = 0, reports an orphan and never deletes it', async () => {
    const h = new Harness({options: {sweepIntervalMs: 300_000}, extraGlobals: 'paas_orphan_grace_period = 0'})
    harnesses.push(h)
    const orphan = h.cloud.create('hpd-job-tok0abcd-999', 'M', 13.45, 999, {
      systemId: HARNESS_SYSTEM_ID,
      runner: 'tok0abcd',
    })
    await h.start()
    await h.clock.advance(3_600_000)
    expect(h.cloud.resources.has(orphan.id)).toBe(true)
    expect(h.store.orphans.has(`tok0abcd/${orphan.id}`)).toBe(true)
    expect(h.events.filter((e) => e.type === 'orphan').map((e) => (e as {action: string}).action)).toEqual(['marked'])
  })
})

describe('dispatcher: progress polling', () => {
  it('a GitLab instance that never answers a progress check does not delay the jobs of another', async () => {
    const h = await harness({runners: 2, referenceJobs: 4, extraGlobals: 'job_progress_poll_interval = 10'})
    // gitlab0 hangs every progress check; gitlab1 answers.
    h.gitlab.beforeStatus = (runner) => (runner.url.includes('gitlab0') ? new Promise(() => {}) : Promise.resolve())
    const stuck = Array.from({length: 6}, () => h.gitlab.enqueue({runnerToken: h.tokens[0]}))
    const other = h.gitlab.enqueue({runnerToken: h.tokens[1]})
    await h.clock.runUntil(
      () => [...stuck, other].every((j) => [...h.cloud.resources.values()].some((r) => r.jobId === j.id && r.launched)),
      600_000,
      'all launched',
    )
    h.gitlab.finish(other.id)
    const finishedAt = h.clock.now()
    await h.clock.runUntil(
      () => ![...h.cloud.resources.values()].some((r) => r.jobId === other.id),
      600_000,
      "the other GitLab's job is noticed finished",
    )
    // Within about one interval (10 s) of finishing, though 6 checks of gitlab0 hang forever.
    expect(h.clock.now() - finishedAt).toBeLessThanOrEqual(12_000)
  })
  it('a slow GitLab instance neither makes the jobs of another polled more than once per interval, nor starves its own', async () => {
    const h = await harness({runners: 2, referenceJobs: 20})
    const perJob = new Map<number, number>()
    // gitlab0 takes 10 s to answer a progress check; gitlab1 answers at once.
    h.gitlab.beforeStatus = async (runner, job) => {
      perJob.set(job.id, (perJob.get(job.id) ?? 0) + 1)
      if (runner.url.includes('gitlab0')) await h.clock.sleep(10_000)
    }
    const slow = Array.from({length: 16}, () => h.gitlab.enqueue({runnerToken: h.tokens[0]}))
    const fast = Array.from({length: 4}, () => h.gitlab.enqueue({runnerToken: h.tokens[1]}))
    await h.clock.runUntil(() => [...slow, ...fast].every((j) => j.status === 'running'), 600_000, 'all running')
    await h.clock.advance(30_000)
    perJob.clear()
    await h.clock.advance(300_000) // 10 intervals of 30 s
    // gitlab1: each job once per interval, not more because gitlab0 lags behind its own pace.
    for (const j of fast) expect(perJob.get(j.id) ?? 0).toBeGreaterThanOrEqual(9)
    for (const j of fast) expect(perJob.get(j.id) ?? 0).toBeLessThanOrEqual(11)
    // gitlab0: its 4 slots allow 120 checks in 300 s for its 16 jobs: every job gets its turns.
    for (const j of slow) expect(perJob.get(j.id) ?? 0).toBeGreaterThanOrEqual(5)
  })

  it('jobs that come in a burst are polled at the pace of every job, from the next interval', async () => {
    const h = await harness({referenceJobs: 20})
    const perJob = new Map<number, number>()
    h.gitlab.beforeStatus = async (_r, job) => void perJob.set(job.id, (perJob.get(job.id) ?? 0) + 1)
    const first = h.gitlab.enqueue({flavor: 'XS'})
    await h.clock.runUntil(() => first.status === 'running', 600_000, 'first running')
    await h.clock.advance(40_000)
    const burst = Array.from({length: 10}, () => h.gitlab.enqueue({flavor: 'XS'}))
    await h.clock.runUntil(() => burst.every((j) => j.status === 'running'), 600_000, 'burst running')
    await h.clock.advance(30_000)
    perJob.clear()
    await h.clock.advance(300_000)
    for (const j of [first, ...burst]) expect(perJob.get(j.id) ?? 0).toBeGreaterThanOrEqual(9)
    for (const j of [first, ...burst]) expect(perJob.get(j.id) ?? 0).toBeLessThanOrEqual(11)
  })
})

describe('dispatcher: many runners', () => {
  it('20 runners wait on the stop and intake signals without a MaxListenersExceededWarning', async () => {
    const warnings: string[] = []
    const onWarning = (w: Error): void => void warnings.push(`${w.name}: ${w.message}`)
    process.on('warning', onWarning)
    try {
      const h = await harness({runners: 20})
      for (let i = 0; i < 5; i++) h.gitlab.enqueue()
      await h.clock.runUntil(
        () => h.cloud.resources.size === 5 && [...h.cloud.resources.values()].every((r) => r.launched),
        600_000,
        'all launched',
      )
      finishLaunched(h)
      await h.clock.runUntil(idle(h), 600_000, 'idle')
      // process warnings are emitted on the next tick.
      await new Promise((r) => setImmediate(r))
      expect(warnings.filter((w) => w.startsWith('MaxListenersExceededWarning'))).toEqual([])
    } finally {
      process.off('warning', onWarning)
    }
  })
})

import {afterEach, describe, expect, it} from 'vitest'

import {Harness} from '../helpers/dispatcher-harness.js'

const RUNNER = 'tok0abcd' // short token of the harness's runner r0

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
    expect(h.writeAheadViolations, 'a side effect ran ahead of its durable record').toEqual([])
  }
})

describe("an executor's reports: a line for the job log, its resource failed", () => {
  it("a running job whose resource failed is failed in GitLab with the reason, after the executor's lines, and its resource deleted", async () => {
    const h = await harness()
    const job = h.gitlab.enqueue({flavor: 'S'})
    await h.clock.runUntil(() => h.snapshot().jobs[0]?.phase === 'running')
    expect(h.cloud.resources.size).toBe(1)
    h.dispatcher.reports.jobLog(RUNNER, job.id, 'application app_42 created in zone par')
    h.dispatcher.reports.jobLog(RUNNER, job.id, 'second\nline')
    h.dispatcher.reports.resourceFailed(RUNNER, job.id, 'the application was deleted behind our back')
    h.dispatcher.reports.resourceFailed(RUNNER, job.id, 'reported twice: ignored')
    await h.clock.runUntil(() => h.snapshot().jobs.length === 0, 600_000, 'the job gone')
    expect(job.status).toBe('failed')
    expect(h.cloud.resources.size).toBe(0)
    expect(job.log).toBe(
      "application app_42 created in zone par\nsecond / line\n\u001b[31mheptapod-paas-runner: the job's resource failed: the application was deleted behind our back\u001b[0m\n",
    )
    expect(h.snapshot().recentFailures.map((f) => f.reason)).toEqual([
      "the job's resource failed: the application was deleted behind our back",
    ])
    expect(h.info(/executor: application app_42 created/)).toHaveLength(1)
  })

  it('while the launch is watched (launched), the failure does not wait for the watch timeout', async () => {
    const h = await harness({traceWatch: true})
    const job = h.gitlab.enqueue({flavor: 'S'})
    await h.clock.runUntil(() => h.snapshot().jobs[0]?.phase === 'launched')
    const before = h.clock.now()
    h.dispatcher.reports.resourceFailed(RUNNER, job.id, 'out of memory')
    await h.clock.runUntil(() => h.snapshot().jobs.length === 0, 600_000, 'the job gone')
    expect(h.clock.now() - before).toBeLessThan(300_000)
    expect(job.status).toBe('failed')
    expect(job.log).toContain("the job's resource failed: out of memory")
    expect(h.cloud.resources.size).toBe(0)
  })

  it('a report about a job that is not ours, or already over, changes nothing', async () => {
    const h = await harness()
    const job = h.gitlab.enqueue({flavor: 'S'})
    h.dispatcher.reports.resourceFailed(RUNNER, 999, 'not ours')
    h.dispatcher.reports.jobLog(RUNNER, 999, 'not ours')
    await h.clock.runUntil(() => h.snapshot().jobs[0]?.phase === 'running')
    h.gitlab.finish(job.id, 'success')
    await h.clock.runUntil(() => h.snapshot().jobs.length === 0, 600_000, 'the job gone')
    h.dispatcher.reports.resourceFailed(RUNNER, job.id, 'too late')
    await h.clock.runUntil(() => true)
    expect(job.status).toBe('success')
    expect(job.log).toBe('')
    expect(h.snapshot().recentFailures).toEqual([])
  })
})

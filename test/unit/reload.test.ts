import {afterEach, describe, expect, it} from 'vitest'

import {parseConfig} from '../../src/core/config/parse-config.js'
import type {RunnerUnit} from '../../src/core/dispatcher/dispatcher.js'
import {describeReload, planReload} from '../../src/core/dispatcher/reload-plan.js'
import {ConfigError} from '../../src/core/errors.js'
import {memoryExecutorFactory} from '../../src/test-doubles/memory/memory-executor.js'
import {captureLogger, Harness, HARNESS_SYSTEM_ID} from '../helpers/dispatcher-harness.js'
import {testExecutors} from '../helpers/executors.js'

const harnesses: Harness[] = []
afterEach(() => {
  for (const h of harnesses.splice(0)) {
    h.dispatcher?.shutdown('test end').catch(() => {})
    h.dispose()
  }
})

/** A config of the harness's cloud with the runners named (r<i> has token tok<i>abcd-runner-secret). */
function toml(h: Harness, runners: number[], globals = 'concurrent = 50', quota = {flavor: '3XL', jobs: 2}): string {
  return `${globals}
[quota_computation]
  reference_runner = "r${runners[0]}"
  reference_flavor = "${quota.flavor}"
  reference_jobs_count = ${quota.jobs}
${runners
  .map(
    (i) => `
[[runners]]
  name = "r${i}"
  url = "https://gitlab${i}.example"
  token = "tok${i}abcd-runner-secret"
  executor = "memory"
  memory_cloud = "${h.cloudName}"
`,
  )
  .join('')}`
}

const parse = (text: string) =>
  parseConfig(text, {file: 'reloaded.toml', executors: testExecutors, defaultStateFile: '/virtual/state'})

/** What the daemon does on SIGHUP: an executor for each added or changed runner, then reconfigure. */
async function reload(h: Harness, text: string) {
  const config = parse(text)
  const plan = planReload(h.dispatcher.currentConfig, config)
  const deps = {now: h.clock.now, sleep: h.clock.sleep, addSecret: () => {}, log: captureLogger(h.logs)}
  const units: RunnerUnit[] = [...plan.added, ...plan.changed].map((r) => ({
    config: r,
    executor: memoryExecutorFactory.create(r as never, {
      ...deps,
      owner: {systemId: HARNESS_SYSTEM_ID, runner: r.uniqueName},
    }),
  }))
  return h.dispatcher.reconfigure(config, units)
}

async function started(o: ConstructorParameters<typeof Harness>[0]): Promise<Harness> {
  const h = new Harness(o)
  harnesses.push(h)
  return h.start()
}

describe('reload (SIGHUP): the dispatcher takes a new configuration while jobs run', () => {
  it('an added runner starts polling; a removed one takes no job, finishes its own, then goes', async () => {
    const h = await started({runners: 2})
    const tok = (i: number) => `tok${i}abcd-runner-secret`
    const onR1 = h.gitlab.enqueue({flavor: 'S', runnerToken: tok(1)})
    await h.clock.runUntil(
      () => [...h.cloud.resources.values()].some((r) => r.jobId === onR1.id && r.launched),
      600_000,
      'r1 runs a job',
    )

    const plan = await reload(h, toml(h, [0, 2]))
    expect(describeReload(plan)).toBe("added 'r2'; removed tok1abcd (they finish their jobs)")
    // r1 is stopped and says why; its running job is still tracked.
    const r1 = () => h.snapshot().runners.find((r) => r.runner === 'tok1abcd')
    expect(r1()?.intake).toEqual({
      state: 'stopped',
      reason: 'removed from the configuration; finishing its 1 job(s)',
      code: 'removed',
    })
    expect(h.snapshot().jobs.map((j) => [j.jobId, j.phase])).toEqual([[onR1.id, 'running']])

    // The added runner takes a job; the removed one takes none any more.
    const forR2 = h.gitlab.enqueue({flavor: 'S', runnerToken: tok(2)})
    const forR1 = h.gitlab.enqueue({flavor: 'S', runnerToken: tok(1)})
    await h.clock.runUntil(
      () => forR2.status === 'running' && h.snapshot().jobs.some((j) => j.jobId === forR2.id && j.phase === 'running'),
      600_000,
      'r2 runs a job',
    )
    await h.clock.advance(60_000)
    expect(forR1.status).toBe('pending')

    // r1's job ends: its resource is deleted, then r1 leaves the snapshot.
    h.gitlab.finish(onR1.id)
    await h.clock.runUntil(() => !h.snapshot().jobs.some((j) => j.jobId === onR1.id), 600_000, 'r1 job over')
    expect([...h.cloud.resources.values()].some((r) => r.jobId === onR1.id)).toBe(false)
    expect(r1()).toBeUndefined()
    expect(h.snapshot().runners.map((r) => r.name)).toEqual(['r0', 'r2'])
    expect(forR1.status).toBe('pending')
  })

  it('changed limits apply at once: a lower concurrent pauses intake, a higher one resumes it', async () => {
    const h = await started({runners: 1})
    h.gitlab.enqueue({flavor: 'S'})
    await h.clock.runUntil(() => h.snapshot().jobs.some((j) => j.phase === 'running'), 600_000, 'one job runs')
    const plan = await reload(h, toml(h, [0], 'concurrent = 1'))
    expect(plan.limits).toEqual([{key: 'concurrent', from: 50, to: 1}])
    const waiting = h.gitlab.enqueue({flavor: 'S'})
    await h.clock.runUntil(() => h.snapshot().runners[0]!.intake.state === 'paused', 600_000, 'paused')
    expect(h.snapshot().runners[0]!.intake).toMatchObject({
      state: 'paused',
      blocker: {kind: 'concurrent', jobs: 1, limit: 1},
    })
    expect(waiting.status).toBe('pending')
    await reload(h, toml(h, [0], 'concurrent = 5'))
    await h.clock.runUntil(() => waiting.status === 'running', 600_000, 'the waiting job is taken')
  })

  it('a new [quota_computation] gives a new quota; one naming a missing flavor is refused and nothing changes', async () => {
    const h = await started({runners: 1})
    const before = h.snapshot().quota.total!
    await expect(reload(h, toml(h, [0], 'concurrent = 3', {flavor: 'HUGE', jobs: 2}))).rejects.toBeInstanceOf(
      ConfigError,
    )
    expect(h.snapshot().quota.total).toBe(before)
    expect(h.snapshot().concurrent.limit).toBe(50)
    // As at start: a quota that could never hold one job of the heaviest flavor is refused.
    await expect(reload(h, toml(h, [0], 'concurrent = 50', {flavor: 'XS', jobs: 1}))).rejects.toThrow(
      'could never take a job',
    )
    expect(h.snapshot().quota.total).toBe(before)
    await reload(h, toml(h, [0], 'concurrent = 50', {flavor: '3XL', jobs: 4}))
    expect(h.snapshot().quota.total).toBeCloseTo(before * 2, 9)
  })

  it('a runner removed and added back before its jobs are over polls again (one intake loop)', async () => {
    const h = await started({runners: 2})
    const tok1 = 'tok1abcd-runner-secret'
    const first = h.gitlab.enqueue({flavor: 'S', runnerToken: tok1})
    await h.clock.runUntil(
      () => first.status === 'running' && h.snapshot().jobs.some((j) => j.phase === 'running'),
      600_000,
      'r1 runs',
    )
    await reload(h, toml(h, [0]))
    await reload(h, toml(h, [0, 1]))
    expect(h.snapshot().runners.map((r) => r.name)).toEqual(['r0', 'r1'])
    const second = h.gitlab.enqueue({flavor: 'S', runnerToken: tok1})
    await h.clock.runUntil(() => second.status === 'running', 600_000, 'r1 takes a job again')
    const requests = h.gitlab.calls.requestJob
    await h.clock.advance(3_000) // one check_interval: each runner asks at most once
    expect(h.gitlab.calls.requestJob - requests).toBeLessThanOrEqual(2)
  })

  it('the plan: moved sections are unchanged, edited ones changed; state_file and listen_address need a restart', () => {
    const h = new Harness({runners: 2})
    harnesses.push(h)
    const a = parse(toml(h, [0, 1]))
    const moved = parse(
      toml(h, [0, 1]).replace(/\n\[\[runners\]\][^[]*r0[^[]*/, '') +
        toml(h, [0]).slice(toml(h, [0]).indexOf('[[runners]]')),
    )
    const p1 = planReload(a, moved)
    expect(p1.unchanged.map((r) => r.name).sort()).toEqual(['r0', 'r1'])
    const edited = parse(
      toml(h, [0, 1], 'concurrent = 50\nstate_file = "/elsewhere"\nlisten_address = "127.0.0.1:9999"').replace(
        'url = "https://gitlab1.example"',
        'url = "https://gitlab1.example.org"',
      ),
    )
    const p2 = planReload(a, edited)
    expect(p2.changed.map((r) => r.name)).toEqual(['r1'])
    expect(p2.needsRestart.map((c) => c.key)).toEqual(['state_file', 'listen_address'])
  })
})

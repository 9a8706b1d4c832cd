import {spawn, type ChildProcess} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {GitLabSimulator} from '../src/sim/gitlab/gitlab-simulator.js'
import {BIN, REPO} from './helpers/cli.js'
import {waitUntil} from './helpers/wait.js'
import {withMemoryExecutor} from '../src/test-doubles/memory/link.js'

const JOBS = 100
const KILLS = 12
/** The seed of the inner runner's job durations: a failure can be replayed exactly. */
const SEED = Number(process.env.HPR_CRASH_SEED ?? 20261128)

/** mulberry32: a small seeded PRNG, so the run does not depend on Math.random. */
function seeded(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Job records left in a state journal (replays puts and deletes), with their phase. */
function trackedJobs(stateFile: string): Array<{jobId: number; phase: string}> {
  if (!existsSync(stateFile)) return []
  const live = new Map<string, {jobId: number; phase: string}>()
  for (const line of readFileSync(stateFile, 'utf8').split('\n')) {
    try {
      const e = JSON.parse(line) as {t: string; r?: {runner: string; jobId: number; phase: string}; k?: string}
      if (e.t === 'put') live.set(`${e.r!.runner}/${e.r!.jobId}`, {jobId: e.r!.jobId, phase: e.r!.phase})
      if (e.t === 'del') live.delete(e.k!)
    } catch {
      // torn last line
    }
  }
  return [...live.values()]
}

/**
 * What each kill waits for, in turn: jobs being set up (taken, resource created or being
 * created, being handed over), jobs running, and jobs whose resource is being deleted. The kill
 * comes once the state file shows one; never after a guessed delay.
 */
const KILL_POINTS: Array<{name: string; phases: string[]}> = [
  {name: 'setting up', phases: ['acquired', 'provisioning', 'provisioned', 'launching', 'launched']},
  {name: 'running', phases: ['running']},
  {name: 'tearing down', phases: ['finished', 'decommissioning']},
]

describe('kill -9 in the middle of 100 jobs (at set-up, while running, at tear-down)', () => {
  const sim = new GitLabSimulator({ackTimeoutMs: 1500})
  const dir = mkdtempSync(join(tmpdir(), 'hpr-crash-'))
  const cloud = join(dir, 'cloud')
  const stateFile = join(dir, 'state.json')
  let daemon: ChildProcess | undefined
  let innerRunner: ReturnType<typeof setInterval> | undefined
  afterAll(async () => {
    if (innerRunner) clearInterval(innerRunner)
    daemon?.kill('SIGKILL')
    await sim.stop()
  })

  function spawnDaemon(): ChildProcess {
    const child = spawn(process.execPath, [BIN, 'run', join(dir, 'config.toml')], {
      cwd: REPO,
      env: {
        ...process.env,
        OCLIF_SKIP_NEW_VERSION_CHECK: 'true',
        HEPTAPOD_PAAS_RUNNER_DATA_DIR: withMemoryExecutor(join(dir, 'data')),
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    child.stderr!.on('data', () => {})
    return child
  }

  const exited = (c: ChildProcess) =>
    new Promise<number | null>((resolve) =>
      c.exitCode !== null || c.signalCode !== null ? resolve(c.exitCode) : c.once('exit', (code) => resolve(code)),
    )

  it('leaves no orphan and loses no job', async () => {
    const url = await sim.start()
    const runner = sim.createRunner()
    writeFileSync(
      join(dir, 'config.toml'),
      `concurrent = 20
check_interval = 0.1
job_progress_poll_interval = 0.5
state_file = "${stateFile}"
[quota_computation]
  reference_runner = "crash"
  reference_flavor = "3XL"
  reference_jobs_count = 2
[[runners]]
  name = "crash"
  url = "${url}"
  token = "${runner.token}"
  executor = "memory"
  memory_cloud_dir = "${cloud}"
`,
    )
    const flavors = ['XS', 'S', 'M', 'L']
    for (let i = 0; i < JOBS; i++) sim.enqueueJob({flavor: flavors[i % flavors.length]!})

    // The inner runner: a launched resource's job finishes a little later (seeded durations).
    // It also watches the resource-lifetime invariant: a resource that disappears while GitLab
    // still has its job running was deleted too early.
    const random = seeded(SEED)
    const finishing = new Set<number>()
    const seen = new Map<string, number>()
    const earlyDeletes: string[] = []
    innerRunner = setInterval(() => {
      if (!existsSync(cloud)) return
      const present = new Set<string>()
      for (const f of readdirSync(cloud)) {
        if (!f.endsWith('.json')) continue
        let r: {jobId: number; launched: boolean}
        try {
          r = JSON.parse(readFileSync(join(cloud, f), 'utf8')) as {jobId: number; launched: boolean}
        } catch {
          continue
        }
        present.add(f)
        seen.set(f, r.jobId)
        if (!r.launched || finishing.has(r.jobId)) continue
        finishing.add(r.jobId)
        setTimeout(() => sim.finishJob(r.jobId, 'success'), 50 + Math.floor(random() * 300))
      }
      for (const [f, jobId] of seen) {
        if (present.has(f)) continue
        seen.delete(f)
        const status = sim.job(jobId)?.status
        if (status === 'running' || status === 'pending') earlyDeletes.push(`${f}: job ${jobId} ${status}`)
      }
    }, 20)

    const kills: string[] = []
    for (let k = 0; k < KILLS; k++) {
      const point = KILL_POINTS[k % KILL_POINTS.length]!
      const finishedBefore = [...sim.jobs.values()].filter((j) => j.status === 'success').length
      daemon = spawnDaemon()
      // Wait for the state to kill in: a job of this daemon's in that kind of phase, durably
      // recorded; and some progress first, so that the run moves on from kill to kill.
      const victim = () =>
        [...sim.jobs.values()].filter((j) => j.status === 'success').length > finishedBefore || k === 0
          ? trackedJobs(stateFile).find((t) => point.phases.includes(t.phase))
          : undefined
      await waitUntil(() => victim() !== undefined, 60_000, `kill ${k + 1}: a job ${point.name}`)
      daemon.kill('SIGKILL')
      await exited(daemon)
      kills.push(`${point.name} (${trackedJobs(stateFile).length} tracked)`)
    }
    daemon = spawnDaemon()
    const allDone = () =>
      [...sim.jobs.values()].every((j) => j.status === 'success') &&
      readdirSync(cloud).filter((f) => f.endsWith('.json')).length === 0 &&
      trackedJobs(stateFile).length === 0
    await waitUntil(allDone, 180_000, 'every job finished, every resource deleted, nothing tracked')
    daemon.kill('SIGTERM')
    expect(await exited(daemon)).toBe(0)

    const jobs = [...sim.jobs.values()]
    expect(jobs.filter((j) => j.status !== 'success').map((j) => `${j.id}:${j.status}`)).toEqual([])
    expect(jobs.every((j) => j.failureReports === 0)).toBe(true)
    // No resource left, and none was ever created twice for one job.
    expect(readdirSync(cloud).filter((f) => f.endsWith('.json'))).toEqual([])
    const creations = readFileSync(join(cloud, '.creations'), 'utf8').trim().split('\n')
    expect(creations).toHaveLength(new Set(creations).size)
    expect(new Set(creations).size).toBe(JOBS)
    expect(earlyDeletes).toEqual([])
    console.log(
      `crash test (seed ${SEED}): kills ${kills.join(', ')}; ${jobs.reduce((n, j) => n + j.requeued, 0)} jobs re-queued by GitLab after an unacknowledged assignment`,
    )
  }, 300_000)
})

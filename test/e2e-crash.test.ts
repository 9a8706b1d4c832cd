import {spawn, type ChildProcess} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {GitLabSimulator} from '../src/sim/gitlab/gitlab-simulator.js'
import {BIN, REPO} from './helpers/cli.js'
import {waitUntil} from './helpers/wait.js'

const JOBS = 100
const KILLS = 12

/** Job records left in a state journal (replays puts and deletes). */
function trackedJobs(stateFile: string): number[] {
  if (!existsSync(stateFile)) return []
  const live = new Map<string, number>()
  for (const line of readFileSync(stateFile, 'utf8').split('\n')) {
    try {
      const e = JSON.parse(line) as {t: string; r?: {runner: string; jobId: number}; k?: string}
      if (e.t === 'put') live.set(`${e.r!.runner}/${e.r!.jobId}`, e.r!.jobId)
      if (e.t === 'del') live.delete(e.k!)
    } catch {
      // torn last line
    }
  }
  return [...live.values()]
}

describe('kill -9 at random moments during 100 jobs', () => {
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
      env: {...process.env, OCLIF_SKIP_NEW_VERSION_CHECK: 'true', HEPTAPOD_PAAS_RUNNER_DATA_DIR: join(dir, 'data')},
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    child.stderr!.on('data', () => {})
    return child
  }

  const exited = (c: ChildProcess) => new Promise<number | null>((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve(c.exitCode) : c.once('exit', (code) => resolve(code))))

  it('leaves no orphan and loses no job', async () => {
    const url = await sim.start()
    const runner = sim.createRunner()
    writeFileSync(join(dir, 'config.toml'), `concurrent = 20
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
`)
    const flavors = ['XS', 'S', 'M', 'L']
    for (let i = 0; i < JOBS; i++) sim.enqueueJob({flavor: flavors[i % flavors.length]!})

    // The inner runner: a launched resource's job finishes a little later.
    const finishing = new Set<number>()
    innerRunner = setInterval(() => {
      if (!existsSync(cloud)) return
      for (const f of readdirSync(cloud)) {
        if (!f.endsWith('.json')) continue
        let r: {jobId: number; launched: boolean}
        try {
          r = JSON.parse(readFileSync(join(cloud, f), 'utf8')) as {jobId: number; launched: boolean}
        } catch {
          continue
        }
        if (!r.launched || finishing.has(r.jobId)) continue
        finishing.add(r.jobId)
        setTimeout(() => sim.finishJob(r.jobId, 'success'), 50 + Math.random() * 300)
      }
    }, 20)

    let inFlightAtKills = 0
    for (let k = 0; k < KILLS; k++) {
      daemon = spawnDaemon()
      await new Promise((r) => setTimeout(r, 400 + Math.random() * 1200))
      daemon.kill('SIGKILL')
      await exited(daemon)
      inFlightAtKills += trackedJobs(stateFile).length
    }
    // The kills did land in the middle of work.
    expect(inFlightAtKills).toBeGreaterThan(0)
    daemon = spawnDaemon()
    const allDone = () => [...sim.jobs.values()].every((j) => j.status === 'success') && readdirSync(cloud).filter((f) => f.endsWith('.json')).length === 0 && trackedJobs(stateFile).length === 0
    await waitUntil(allDone, 120_000, 'every job finished, every resource deleted, nothing tracked')
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
    console.log(`crash test: ${KILLS} kills with ${inFlightAtKills} tracked jobs in flight in total, ${jobs.reduce((n, j) => n + j.requeued, 0)} jobs re-queued by GitLab after an unacknowledged assignment`)
  }, 240_000)
})

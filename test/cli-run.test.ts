import {spawn, type ChildProcess} from 'node:child_process'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {GitLabSimulator} from '../src/sim/gitlab/gitlab-simulator.js'
import {BIN, freshDataDir, REPO, runCli} from './helpers/cli.js'
import {waitUntil} from './helpers/wait.js'

let sim: GitLabSimulator
let dir: string
let token: string
let child: ChildProcess | undefined

beforeEach(async () => {
  sim = new GitLabSimulator()
  await sim.start()
  token = sim.createRunner().token
  dir = mkdtempSync(join(tmpdir(), 'hpr-run-'))
  writeFileSync(
    join(dir, 'config.toml'),
    `check_interval = 0.1
state_file = "${join(dir, 'state.json')}"
[quota_computation]
  reference_runner = "r"
  reference_flavor = "3XL"
  reference_jobs_count = 2
[[runners]]
  name = "r"
  url = "${sim.url}"
  token = "${token}"
  executor = "memory"
`,
  )
})
afterEach(async () => {
  child?.kill('SIGKILL')
  await sim.stop()
})

function start(args: string[]): {child: ChildProcess; stderr: () => string; exit: Promise<number | null>} {
  let err = ''
  const c = spawn(process.execPath, [BIN, 'run', join(dir, 'config.toml'), ...args], {
    cwd: REPO,
    env: {...process.env, OCLIF_SKIP_NEW_VERSION_CHECK: 'true', HEPTAPOD_PAAS_RUNNER_DATA_DIR: freshDataDir()},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  c.stderr!.on('data', (d: Buffer) => (err += d.toString()))
  child = c
  return {child: c, stderr: () => err, exit: new Promise((r) => c.once('exit', (code) => r(code)))}
}

describe('run', () => {
  it('--tui without a terminal falls back to plain log lines', async () => {
    const r = await runCli(['run', join(dir, 'config.toml'), '--tui', '--poll-cycles', '2'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toContain('warning: --tui needs a terminal; showing plain log lines instead')
    expect(r.stderr).toContain('"msg":"stopped"')
  })

  it('--poll-cycles stops after N polling cycles with exit code 0', async () => {
    const r = await runCli(['run', join(dir, 'config.toml'), '--poll-cycles', '3'])
    expect(r.code, r.stderr).toBe(0)
    expect(sim.counters.get('POST /jobs/request')).toBe(3)
    expect(r.stderr).toContain('all runners did 3 polling cycles')
  })

  it('SIGTERM aborts a held long poll and exits 0 at once', async () => {
    // A one-hour hold: waiting it out would exceed the test's timeout by far, so exiting at all proves the abort.
    sim.longPollMs = 3_600_000
    const d = start([])
    await waitUntil(() => sim.heldPolls === 1, 20_000, 'a held long poll')
    const answered = sim.counters.get('POST /jobs/request', 204)
    d.child.kill('SIGTERM')
    expect(await d.exit).toBe(0)
    await waitUntil(() => sim.heldPolls === 0, 10_000, 'the simulator to see the daemon go')
    expect(sim.counters.get('POST /jobs/request', 204)).toBe(answered) // the hold was cut, not answered
  })

  it('SIGUSR1 with --debug-signal logs a state dump without secrets', async () => {
    sim.enqueueJob()
    const d = start(['--debug-signal'])
    await waitUntil(() => [...sim.jobs.values()].some((j) => j.status === 'running'), 20_000, 'job running')
    d.child.kill('SIGUSR1')
    await waitUntil(() => d.stderr().includes('state dump'), 10_000, 'dump')
    d.child.kill('SIGTERM')
    expect(await d.exit).toBe(0)
    const jobToken = [...sim.jobs.values()][0]!.token
    expect(d.stderr()).toContain('"jobId":1000')
    expect(d.stderr()).not.toContain(token)
    expect(d.stderr()).not.toContain(jobToken)
  })
})

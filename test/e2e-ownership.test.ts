import {spawn, type ChildProcess} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {formatOwnerMarker} from '../src/core/identity/owner-marker.js'
import {CleverSimulator} from '../src/sim/clever/clever-simulator.js'
import {GitLabSimulator} from '../src/sim/gitlab/gitlab-simulator.js'
import {BIN, freshDataDir, REPO} from './helpers/cli.js'
import {waitUntil} from './helpers/wait.js'

const ORGA = 'orga_shared'
const CC_TOKEN = 'cc-shared-orga-token-SeCrEt'
let gitlab: GitLabSimulator
let clever: CleverSimulator
let dir: string
const children: Array<{child: ChildProcess; out: {text: string}}> = []

beforeEach(async () => {
  gitlab = new GitLabSimulator({longPollMs: 5_000})
  clever = new CleverSimulator({jobDurationMs: 100})
  await gitlab.start()
  await clever.start()
  clever.addOrg(ORGA, {token: CC_TOKEN})
  dir = mkdtempSync(join(tmpdir(), 'hpr-owner-'))
})
afterEach(async () => {
  for (const c of children.splice(0)) c.child.kill('SIGKILL')
  await clever.stop()
  await gitlab.stop()
})

function runnerSection(name: string, token: string): string {
  return `
[[runners]]
  name = "${name}"
  url = "${gitlab.url}"
  token = "${token}"
  executor = "clever-docker"
  cc_api_url = "${clever.apiUrl}"
  cc_deployment_repo_wait_step = 0.05
  cc_orga_id = "${ORGA}"
  cc_token = "${CC_TOKEN}"
  cc_max_flavor = "S"
  [runners.cc_extra_env]
    CC_ENABLE_HEPTAPOD_RUNNER = "true"
  [runners.docker]
    image = "debian:bookworm"
`
}

/** A config file in its own folder; no state_file: the default next to it is used. */
function writeConfig(sub: string, runners: Array<{name: string; token: string}>, extra = ''): string {
  const folder = join(dir, sub)
  mkdirSync(folder, {recursive: true})
  const path = join(folder, 'runner.toml')
  writeFileSync(
    path,
    `check_interval = 0.2
job_progress_poll_interval = 0.5
paas_orphan_grace_period = 2
${extra}
[quota_computation]
  reference_runner = "${runners[0]!.name}"
  reference_flavor = "S"
  reference_jobs_count = 6
${runners.map((r) => runnerSection(r.name, r.token)).join('')}`,
  )
  return path
}

function start(config: string): {child: ChildProcess; out: {text: string}} {
  const out = {text: ''}
  const child = spawn(process.execPath, [BIN, 'run', config], {
    cwd: REPO,
    env: {...process.env, OCLIF_SKIP_NEW_VERSION_CHECK: 'true', HEPTAPOD_PAAS_RUNNER_DATA_DIR: freshDataDir()},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child.stderr!.on('data', (d: Buffer) => (out.text += d.toString()))
  child.stdout!.on('data', (d: Buffer) => (out.text += d.toString()))
  const entry = {child, out}
  children.push(entry)
  return entry
}

const exited = (c: ChildProcess): Promise<number | null> =>
  new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(c.exitCode) : c.once('exit', (code) => r(code))))

/** The daemon's system id, from the meta line of its state file. */
function systemIdOf(stateFile: string): string | undefined {
  if (!existsSync(stateFile)) return undefined
  for (const line of readFileSync(stateFile, 'utf8').split('\n')) {
    if (line.includes('"t":"meta"')) return (JSON.parse(line) as {systemId: string}).systemId
  }
  return undefined
}

/** Creates an app through the simulator's API, as a person or another program would. */
async function createApp(name: string, description: string): Promise<string> {
  const res = await fetch(`${clever.apiUrl}/organisations/${ORGA}/applications`, {
    method: 'POST',
    headers: {'content-type': 'application/json', authorization: `token ${CC_TOKEN}`},
    body: JSON.stringify({
      name,
      description,
      zone: 'par',
      deploy: 'git',
      instanceType: 'docker',
      instanceVersion: '20240315',
      instanceVariant: '70d676a0-a775-4dc9-a43d-3121036e8515',
      instanceLifetime: 'TASK',
      minInstances: 1,
      maxInstances: 1,
      minFlavor: 'heptapod-runner-XS',
      maxFlavor: 'heptapod-runner-XS',
    }),
  })
  expect(res.status, await res.clone().text()).toBe(200)
  return ((await res.json()) as {id: string}).id
}

describe('never touch what is not ours (real CLI, simulators)', () => {
  it('two daemons, one organisation, glrt-t1_ tokens: every job runs, each deletes only its own orphan', async () => {
    const a = gitlab.createRunner({token: 'glrt-t1_AAAAAAtokenOfDaemonA01'})
    const b = gitlab.createRunner({token: 'glrt-t1_BBBBBBtokenOfDaemonB01'})
    const configA = writeConfig('a', [{name: 'a', token: a.token}])
    const configB = writeConfig('b', [{name: 'b', token: b.token}])
    // Every delete must concern an app whose job is over at GitLab (or an app with no job).
    const early: string[] = []
    clever.on('app-deleted', (app: {name: string}) => {
      const id = Number(/-(\d+)$/.exec(app.name)?.[1])
      const job = gitlab.job(id)
      if (job && !['success', 'failed', 'canceled'].includes(job.status))
        early.push(`${app.name} deleted while its job was ${job.status}`)
    })
    const jobsA = Array.from({length: 3}, () =>
      gitlab.enqueueJob({flavor: 'XS', durationMs: 20_000, runnerToken: a.token}),
    )
    const jobsB = Array.from({length: 3}, () =>
      gitlab.enqueueJob({flavor: 'XS', durationMs: 20_000, runnerToken: b.token}),
    )
    const da = start(configA)
    const db = start(configB)
    const stateA = join(dir, 'a', 'runner.state.json')
    const stateB = join(dir, 'b', 'runner.state.json')
    await waitUntil(
      () => systemIdOf(stateA) !== undefined && systemIdOf(stateB) !== undefined,
      30_000,
      'both daemons have a system id',
    )
    // Each daemon's own orphan: its marker, no record. A foreign app with A's runner name but
    // another daemon's marker, and an unmarked app named like A's (the original's, a person's).
    const orphanA = await createApp(
      'hpd-job-t1_AAAAAA-900001',
      formatOwnerMarker({systemId: systemIdOf(stateA)!, runner: 't1_AAAAAA'}),
    )
    const orphanB = await createApp(
      'hpd-job-t1_BBBBBB-900002',
      formatOwnerMarker({systemId: systemIdOf(stateB)!, runner: 't1_BBBBBB'}),
    )
    const foreign = await createApp(
      'hpd-job-t1_AAAAAA-777',
      formatOwnerMarker({systemId: 'r_someotherdaemon', runner: 't1_AAAAAA'}),
    )
    const unmarked = await createApp('hpd-job-t1_AAAAAA-555', 'hpd-job-t1_AAAAAA-555')
    await waitUntil(
      () => !clever.apps.has(orphanA) && !clever.apps.has(orphanB),
      30_000,
      'each daemon deleted its own orphan',
    )
    await waitUntil(
      () => [...jobsA, ...jobsB].every((j) => gitlab.job(j.id)!.status === 'success'),
      90_000,
      'every job succeeded',
    )
    await waitUntil(
      () => [...clever.apps.keys()].sort().join() === [foreign, unmarked].sort().join(),
      30_000,
      'only the foreign and unmarked apps are left',
    )
    expect(early).toEqual([])
    expect(da.out.text).toContain('carries no ownership marker')
    expect(db.out.text).not.toContain('hpd-job-t1_AAAAAA-555')
    da.child.kill('SIGTERM')
    db.child.kill('SIGTERM')
    expect(await exited(da.child), da.out.text).toBe(0)
    expect(await exited(db.child), db.out.text).toBe(0)
  }, 150_000) // jobs of 20 s, on a machine that may be loaded

  it('one config with two glrt-t1_ runners starts and runs jobs for both', async () => {
    const a = gitlab.createRunner({token: 'glrt-t1_CCCCCCfirstRunner000'})
    const b = gitlab.createRunner({token: 'glrt-t1_DDDDDDsecondRunner00'})
    const config = writeConfig('both', [
      {name: 'a', token: a.token},
      {name: 'b', token: b.token},
    ])
    const ja = gitlab.enqueueJob({flavor: 'XS', runnerToken: a.token})
    const jb = gitlab.enqueueJob({flavor: 'XS', runnerToken: b.token})
    const d = start(config)
    await waitUntil(
      () => [ja, jb].every((j) => gitlab.job(j.id)!.status === 'success') && clever.apps.size === 0,
      60_000,
      'both jobs done',
    )
    d.child.kill('SIGTERM')
    expect(await exited(d.child), d.out.text).toBe(0)
  })

  it('one daemon per state file: a second exits 2 naming the file and PID; after kill -9 a restart needs no cleanup', async () => {
    const r = gitlab.createRunner({token: 'glrt-t1_EEEEEElockedRunner00'})
    const config = writeConfig('lock', [{name: 'a', token: r.token}])
    const first = start(config)
    await waitUntil(() => first.out.text.includes('weighted quota set to'), 30_000, 'first daemon running')
    const second = start(config)
    expect(await exited(second.child)).toBe(2)
    expect(second.out.text).toContain(join(dir, 'lock', 'runner.state.json'))
    expect(second.out.text).toContain(`PID ${first.child.pid}`)
    first.child.kill('SIGKILL')
    await exited(first.child)
    const again = start(config)
    await waitUntil(() => again.out.text.includes('weighted quota set to'), 30_000, 'restarted daemon running')
    expect(again.out.text).toContain('took over the state file lock')
    const job = gitlab.enqueueJob({flavor: 'XS', runnerToken: r.token})
    await waitUntil(() => gitlab.job(job.id)!.status === 'success', 60_000, 'the restarted daemon runs jobs')
    again.child.kill('SIGTERM')
    expect(await exited(again.child), again.out.text).toBe(0)
  })
})

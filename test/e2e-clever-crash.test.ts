import {spawn, type ChildProcess} from 'node:child_process'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {CleverSimulator, type SimApp} from '../src/sim/clever/clever-simulator.js'
import {GitLabSimulator} from '../src/sim/gitlab/gitlab-simulator.js'
import {BIN, REPO} from './helpers/cli.js'
import {waitUntil} from './helpers/wait.js'

const JOBS = 20
const KILLS = 6
const CC_TOKEN = 'cc-crash-token-1'

/**
 * kill -9 of a clever-docker daemon at random moments, against the strict Clever simulator: a
 * job runs only on an app whose environment had CC_MOUNT_DOCKER_SOCKET=true when it was pushed,
 * and an app deleted while its job runs kills the job. Slow environment updates widen the window
 * between creating an app and setting its environment, where kills are most dangerous.
 */
describe('clever-docker: kill -9 at random moments', () => {
  const gitlab = new GitLabSimulator({ackTimeoutMs: 1500})
  const clever = new CleverSimulator({repoReadyDelayMs: 50, jobDurationMs: 2000})
  const dir = mkdtempSync(join(tmpdir(), 'hpr-clever-crash-'))
  let daemon: ChildProcess | undefined
  afterAll(async () => {
    daemon?.kill('SIGKILL')
    await clever.stop()
    await gitlab.stop()
  })

  const spawnDaemon = (): ChildProcess => {
    const child = spawn(process.execPath, [BIN, 'run', join(dir, 'config.toml')], {cwd: REPO, env: {...process.env, OCLIF_SKIP_NEW_VERSION_CHECK: 'true', HEPTAPOD_PAAS_RUNNER_DATA_DIR: join(dir, 'data')}, stdio: ['ignore', 'ignore', 'pipe']})
    child.stderr!.on('data', () => {})
    return child
  }
  const exited = (c: ChildProcess) => new Promise<number | null>((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve(c.exitCode) : c.once('exit', (code) => resolve(code))))

  it('every pushed app had its environment, no job was killed by an early delete, none is lost, no app is left', async () => {
    await gitlab.start()
    await clever.start()
    clever.addOrg('orga_crash', {token: CC_TOKEN})
    const runner = gitlab.createRunner()
    writeFileSync(join(dir, 'config.toml'), `concurrent = 5
check_interval = 0.1
job_progress_poll_interval = 0.3
state_file = "${join(dir, 'state.json')}"
[quota_computation]
  reference_runner = "crash"
  reference_flavor = "L"
  reference_jobs_count = 4
[[runners]]
  name = "crash"
  url = "${gitlab.url}"
  token = "${runner.token}"
  executor = "clever-docker"
  cc_api_url = "${clever.apiUrl}"
  cc_orga_id = "orga_crash"
  cc_token = "${CC_TOKEN}"
  cc_deployment_repo_wait_step = 0.05
  [runners.cc_extra_env]
    CC_ENABLE_HEPTAPOD_RUNNER = "true"
`)
    const pushedEnv: Array<Record<string, string>> = []
    clever.on('push', (a: SimApp) => pushedEnv.push(a.pushed!.env))
    clever.addFault('PUT /organisations/:orga/applications/:app/env', {delayMs: 1000})
    for (let i = 0; i < JOBS; i++) gitlab.enqueueJob({flavor: ['XS', 'S'][i % 2]!})
    for (let k = 0; k < KILLS; k++) {
      daemon = spawnDaemon()
      await new Promise((r) => setTimeout(r, 900 + Math.random() * 1500))
      daemon.kill('SIGKILL')
      await exited(daemon)
    }
    clever.faults.clear()
    // The kills did land in the middle of work.
    expect([...gitlab.jobs.values()].filter((j) => j.status === 'pending').length).toBeGreaterThan(0)
    const polls = gitlab.counters.get('POST /jobs/request')
    daemon = spawnDaemon()
    // Up (it polls), so that SIGTERM at the end meets its handler.
    await waitUntil(() => gitlab.counters.get('POST /jobs/request') > polls, 30_000, 'daemon polling')
    await waitUntil(() => [...gitlab.jobs.values()].every((j) => ['success', 'failed', 'canceled'].includes(j.status)) && clever.apps.size === 0, 150_000, 'every job over, every app deleted')
    daemon.kill('SIGTERM')
    expect(await exited(daemon)).toBe(0)

    expect(pushedEnv.length).toBeGreaterThanOrEqual(JOBS)
    expect(pushedEnv.filter((e) => e.CC_MOUNT_DOCKER_SOCKET !== 'true' || e.CC_ENABLE_HEPTAPOD_RUNNER !== 'true')).toEqual([])
    expect(clever.killedJobs).toEqual([])
    expect([...gitlab.jobs.values()].filter((j) => j.status !== 'success').map((j) => `${j.id}:${j.status}:${j.failureReason}`)).toEqual([])
  }, 240_000)
})

import {spawn, type ChildProcess} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {CleverSimulator, type SimApp} from '../src/sim/clever/clever-simulator.js'
import {GitLabSimulator} from '../src/sim/gitlab/gitlab-simulator.js'
import {BIN, freshDataDir, REPO} from './helpers/cli.js'
import {waitUntil} from './helpers/wait.js'

const ORGA = 'orga_crash'
const CC_TOKEN = 'cc-crash-orga-token-SeCrEt'
const FULL_ENV = {CC_MOUNT_DOCKER_SOCKET: 'true', CC_ENABLE_HEPTAPOD_RUNNER: 'true'}

/** Phase of a job in a state journal, as last written. */
function phaseOf(stateFile: string, jobId: number): string | undefined {
  if (!existsSync(stateFile)) return undefined
  let phase: string | undefined
  for (const line of readFileSync(stateFile, 'utf8').split('\n')) {
    try {
      const e = JSON.parse(line) as {t: string; r?: {jobId: number; phase: string}}
      if (e.t === 'put' && e.r!.jobId === jobId) phase = e.r!.phase
    } catch {
      // a torn last line
    }
  }
  return phase
}

/**
 * kill -9 of the clever-docker daemon at each step of provisioning, then a restart: the job
 * succeeds, exactly one app was created for it, and the app had its whole environment when
 * the job was pushed to it (on Clever Cloud, a job cannot run without it).
 */
describe('clever-docker: kill -9 at every step of provisioning', () => {
  const gitlab = new GitLabSimulator({longPollMs: 5_000})
  const clever = new CleverSimulator({jobDurationMs: 100})
  const pushes: Array<{name: string; env: Record<string, string>}> = []
  const creates: string[] = []
  let runnerToken = ''
  let daemon: ChildProcess | undefined
  beforeAll(async () => {
    await gitlab.start()
    await clever.start()
    clever.addOrg(ORGA, {token: CC_TOKEN})
    runnerToken = gitlab.createRunner().token
    clever.on('push', (app: SimApp) => pushes.push({name: app.name, env: {...app.pushed!.env}}))
    clever.on('app', (app: SimApp) => creates.push(app.name))
  })
  afterAll(async () => {
    daemon?.kill('SIGKILL')
    await clever.stop()
    await gitlab.stop()
  })

  function configIn(dir: string): string {
    const path = join(dir, 'config.toml')
    writeFileSync(
      path,
      `check_interval = 0.1
job_progress_poll_interval = 0.3
state_file = "${join(dir, 'state.json')}"
[quota_computation]
  reference_runner = "clever"
  reference_flavor = "S"
  reference_jobs_count = 4
[[runners]]
  name = "clever"
  url = "${gitlab.url}"
  token = "${runnerToken}"
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
`,
    )
    return path
  }

  const start = (config: string): ChildProcess => {
    daemon = spawn(process.execPath, [BIN, 'run', config], {
      cwd: REPO,
      env: {...process.env, OCLIF_SKIP_NEW_VERSION_CHECK: 'true', HEPTAPOD_PAAS_RUNNER_DATA_DIR: freshDataDir()},
      stdio: ['ignore', 'ignore', 'ignore'],
    })
    return daemon
  }
  const exited = (c: ChildProcess): Promise<unknown> =>
    new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(undefined) : c.once('exit', r)))

  type Trigger = (kill: () => void, jobId: number, stateFile: string) => () => void
  const onSim =
    (event: string): Trigger =>
    (kill) => {
      const l = (): void => kill()
      clever.once(event, l)
      return () => clever.off(event, l)
    }
  // A phase can last less than a poll (provisioned → launching is one write away): kill at the
  // first moment the state file shows this phase or a later one, so a kill always happens.
  const ORDER = [
    'acquired',
    'provisioning',
    'provisioned',
    'launching',
    'launched',
    'running',
    'finished',
    'decommissioning',
  ]
  const onPhase =
    (phase: string): Trigger =>
    (kill, jobId, stateFile) => {
      const t = setInterval(() => {
        const now = phaseOf(stateFile, jobId)
        if (now !== undefined && ORDER.indexOf(now) >= ORDER.indexOf(phase)) kill()
      }, 2)
      return () => clearInterval(t)
    }

  const steps: Array<[string, Trigger]> = [
    ['the job is recorded (acquired)', onPhase('acquired')],
    ['the provisioning intent is recorded', onPhase('provisioning')],
    ['the create request reaches the API', onSim('app')],
    ['the app is recorded (provisioned)', onPhase('provisioned')],
    ['the launch intent is recorded', onPhase('launching')],
    ['the push reaches the deployment repository', onSim('push')],
  ]

  it.each(steps)(
    'killed when %s: the job succeeds on one app that had its whole environment',
    async (_step, trigger) => {
      const dir = mkdtempSync(join(tmpdir(), 'hpr-clever-crash-'))
      const config = configIn(dir)
      const job = gitlab.enqueueJob({flavor: 'XS', durationMs: 300})
      const first = start(config)
      let killed = false
      const stop = trigger(
        () => {
          if (killed) return
          killed = true
          first.kill('SIGKILL')
        },
        job.id,
        join(dir, 'state.json'),
      )
      await waitUntil(() => killed || gitlab.job(job.id)!.status === 'success', 60_000, 'the kill point is reached')
      stop()
      await exited(first)
      expect(killed).toBe(true)
      const second = start(config)
      const name = (n: string): boolean => n.endsWith(`-${job.id}`)
      await waitUntil(
        () => gitlab.job(job.id)!.status === 'success' && ![...clever.apps.values()].some((a) => name(a.name)),
        60_000,
        'job done, app deleted',
      )
      second.kill('SIGTERM')
      await exited(second)
      expect(creates.filter(name)).toHaveLength(1)
      const pushed = pushes.filter((p) => name(p.name))
      expect(pushed.length).toBeGreaterThanOrEqual(1)
      for (const p of pushed) expect(p.env).toMatchObject(FULL_ENV)
    },
    120_000,
  ) // two daemon starts and a job each: slow on a loaded machine
})

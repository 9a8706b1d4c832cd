import {spawn, type ChildProcess} from 'node:child_process'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {statusReportSchema, snapshotSchema} from '../src/core/status-schema.js'
import {CleverSimulator} from '../src/sim/clever/clever-simulator.js'
import {GitLabSimulator} from '../src/sim/gitlab/gitlab-simulator.js'
import {BIN, freshDataDir, REPO, runCli} from './helpers/cli.js'
import {LifetimeWatch} from './helpers/lifetime.js'
import {waitUntil} from './helpers/wait.js'

const CC_TOKEN = 'cc-token-MuStNoTlEaK-01'
const ATTR_TOKEN = 'glpat-AtTrS-MuStNoTlEaK'
const WATCH_TOKEN = 'glpat-WaTcH-MuStNoTlEaK'
const TENANT_TOKEN = 'tenant-token-MuStNoTlEaK'

let gitlab: GitLabSimulator
let clever: CleverSimulator
let dir: string
let child: ChildProcess | undefined

beforeEach(async () => {
  gitlab = new GitLabSimulator({longPollMs: 5_000})
  clever = new CleverSimulator({jobDurationMs: 300})
  await gitlab.start()
  await clever.start()
  dir = mkdtempSync(join(tmpdir(), 'hpr-obs-'))
})
afterEach(async () => {
  child?.kill('SIGKILL')
  await clever.stop()
  await gitlab.stop()
})

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const {port} = s.address() as {port: number}
      s.close(() => resolve(port))
    })
  })
}

function daemon(config: string): {out: () => string; exit: Promise<number | null>} {
  let out = ''
  child = spawn(process.execPath, [BIN, 'run', config, '--log-level', 'debug', '--debug-signal'], {
    cwd: REPO,
    env: {...process.env, OCLIF_SKIP_NEW_VERSION_CHECK: 'true', HEPTAPOD_PAAS_RUNNER_DATA_DIR: freshDataDir()},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()))
  const c = child
  return {out: () => out, exit: new Promise((r) => c.once('exit', (code) => r(code)))}
}

describe('observability and redaction (real CLI against both simulators)', () => {
  it('serves /metrics that follow the jobs, /status and status --json that share one schema, and leaks no token anywhere', async () => {
    const port = await freePort()
    const runner = gitlab.createRunner()
    clever.addOrg('orga_obs', {token: CC_TOKEN})
    clever.addOrg('orga_tenant', {token: TENANT_TOKEN})
    gitlab.addPrivateToken(WATCH_TOKEN, {projects: {42: 'reporter', 50: 'reporter'}, scopes: ['read_api']})
    gitlab.addPrivateToken(ATTR_TOKEN, {admin: true})
    gitlab.addProject({id: 50, name: 't', fullPath: 'tenant/t', rootNamespace: 'tenant'})
    gitlab.setGroupAttributes('tenant', {cc_orga_id: 'orga_tenant', cc_orga_token: TENANT_TOKEN})
    const common = `  url = "${gitlab.url}"\n  executor = "clever-docker"\n  cc_api_url = "${clever.apiUrl}"\n  cc_deployment_repo_wait_step = 0.05\n  cc_deployment_repo_timeout = 1\n  cc_max_flavor = "L"\n  [runners.cc_extra_env]\n    CC_ENABLE_HEPTAPOD_RUNNER = "true"\n  [runners.paas_job_trace_watch]\n    token = "${WATCH_TOKEN}"\n    timeout_seconds = 20\n    poll_step = 0.2\n`
    const tenantRunner = gitlab.createRunner()
    const config = join(dir, 'config.toml')
    writeFileSync(
      config,
      `listen_address = "127.0.0.1:${port}"
check_interval = 0.2
job_progress_poll_interval = 0.5
state_file = "${join(dir, 'state.json')}"
[quota_computation]
  reference_runner = "single"
  reference_flavor = "L"
  reference_jobs_count = 3
[[runners]]
  name = "single"
  token = "${runner.token}"
  cc_orga_id = "orga_obs"
  cc_token = "${CC_TOKEN}"
${common}
[[runners]]
  name = "tenants"
  token = "${tenantRunner.token}"
  cc_multi_tenant = true
  cc_gitlab_namespace_attributes_token = "${ATTR_TOKEN}"
${common}`,
    )
    // Every failure path: unknown flavor, Clever 5xx / 429, a stuck repository, a refused push, delete errors,
    // GitLab 503 / 429, a tenant without attributes; and successes on both runners.
    clever.addFault('POST /organisations/:orga/applications', {status: 503, times: 1})
    clever.addFault('GET /organisations/:orga/applications/:app', {status: 429, times: 1})
    clever.addFault('DELETE /organisations/:orga/applications/:app', {status: 500, times: 2})
    clever.stuckRepos = 1
    clever.refusePushes = 1
    gitlab.addFault('POST /jobs/request', {status: 503, times: 6})
    gitlab.addFault('GET /job', {status: 429, times: 2, headers: {'retry-after': '0'}})
    const jobs = [
      ...Array.from({length: 6}, (_, i) =>
        gitlab.enqueueJob({flavor: ['XS', 'S', 'M'][i % 3]!, runnerToken: runner.token, durationMs: 8000}),
      ), // long enough for a status CLI started on a loaded machine to see them
      gitlab.enqueueJob({flavor: 'HUGE', runnerToken: runner.token}),
      gitlab.enqueueJob({projectId: 50, flavor: 'XS', runnerToken: tenantRunner.token, durationMs: 300}),
      gitlab.enqueueJob({projectId: 42, flavor: 'XS', runnerToken: tenantRunner.token}),
    ]
    const lifetime = new LifetimeWatch(gitlab, clever)
    const d = daemon(config)
    const base = `http://127.0.0.1:${port}`
    const collected: string[] = []
    // While jobs run, the gauges show them.
    let sawJobs = false
    await waitUntil(
      async () => {
        try {
          const m = await (await fetch(`${base}/metrics`)).text()
          collected.push(m)
          if (/hpr_jobs\{phase="running",runner="single"\} [1-9]/.test(m) && /hpr_weight_used [1-9]/.test(m))
            sawJobs = true
        } catch {
          // not listening yet
        }
        return sawJobs
      },
      60_000,
      'metrics show running jobs',
    )
    const live = await runCli(['status', config, '--json'])
    expect(live.code, live.stderr).toBe(0)
    const liveReport = statusReportSchema.parse(JSON.parse(live.stdout))
    expect(liveReport.source).toBe('daemon')
    expect(liveReport.snapshot.jobs.length).toBeGreaterThan(0)
    collected.push(live.stdout, live.stderr, (await runCli(['status', config])).stdout)
    const status = await (await fetch(`${base}/status`)).json()
    expect(snapshotSchema.safeParse(status).success).toBe(true)
    collected.push(JSON.stringify(status))
    expect(await (await fetch(`${base}/healthz`)).text()).toBe('ok\n')
    child!.kill('SIGUSR1')

    try {
      await waitUntil(
        () => jobs.every((j) => ['success', 'failed'].includes(gitlab.job(j.id)!.status)) && clever.apps.size === 0,
        120_000,
        'all jobs over, no app left',
      )
    } catch (error) {
      // What was left, to read in the test output: job statuses, apps, the daemon's last lines.
      const left = `${jobs.map((j) => `${j.id}:${gitlab.job(j.id)!.status}`).join(' ')}; apps: ${[...clever.apps.values()].map((a) => a.name).join(' ')}`
      throw new Error(`${(error as Error).message}\n${left}\n${d.out().split('\n').slice(-40).join('\n')}`, {
        cause: error,
      })
    }
    const m = await (await fetch(`${base}/metrics`)).text()
    collected.push(m)
    expect(m).toMatch(/hpr_weight_used 0/)
    expect(m).not.toMatch(/hpr_jobs\{phase="running"/)
    expect(m).toMatch(/hpr_launch_failures_total\{kind="flavor"\} 1/)
    expect(m).toMatch(/hpr_coordinator_requests_total\{endpoint="POST \/jobs\/request",status="503"\} [1-9]/)
    expect(m).toMatch(
      /hpr_paas_api_requests_total\{endpoint="DELETE \/organisations\/:orga\/applications\/:app",status="500"\} 2/,
    )
    expect(m).toMatch(/hpr_process_resident_memory_bytes/)
    expect(m.split('\n').filter((l) => /job="|jobId|app_[0-9a-f]{8}/.test(l))).toEqual([])
    child!.kill('SIGTERM')
    expect(await d.exit).toBe(0)
    const after = await runCli(['status', config, '--json'])
    expect(statusReportSchema.parse(JSON.parse(after.stdout)).source).toBe('state-file')
    collected.push(after.stdout, after.stderr, d.out())

    const tokens = [
      runner.token,
      tenantRunner.token,
      CC_TOKEN,
      ATTR_TOKEN,
      WATCH_TOKEN,
      TENANT_TOKEN,
      ...[...gitlab.jobs.values()].map((j) => j.token),
    ]
    const all = collected.join('\n')
    for (const t of tokens) expect(all.includes(t), `a token leaked: ${t.slice(0, 6)}…`).toBe(false)
    expect(lifetime.violations()).toEqual([])
    expect(lifetime.deletes).toBeGreaterThan(5)
    // The failure paths were really taken.
    expect(d.out()).toContain('git push to the deployment repository failed')
    expect(d.out()).toContain('deployment repository still CREATING')
    expect(d.out()).toContain('namespace=acme: missing custom attribute')
    expect(d.out()).toContain('state dump (SIGUSR1)')
  }, 200_000)
})

import {spawn, type ChildProcess} from 'node:child_process'
import {closeSync, fstatSync, mkdtempSync, openSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {controlSocketPath} from '../src/adapters/observability/control-socket-path.js'
import {CleverSimulator} from '../src/sim/clever/clever-simulator.js'
import {GitLabSimulator} from '../src/sim/gitlab/gitlab-simulator.js'
import {BIN, freshDataDir, REPO, runCli} from './helpers/cli.js'
import {waitUntil} from './helpers/wait.js'

let sim: GitLabSimulator
let dir: string
const children: ChildProcess[] = []

beforeEach(async () => {
  sim = new GitLabSimulator()
  await sim.start()
  dir = mkdtempSync(join(tmpdir(), 'hpr-ops-'))
})
afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL')
  await sim.stop()
})

function config(runners: Array<{name: string; token: string}>, globals = ''): string {
  return `check_interval = 0.2
job_progress_poll_interval = 0.2
${globals}
[quota_computation]
  reference_runner = "${runners[0]!.name}"
  reference_flavor = "3XL"
  reference_jobs_count = 2
${runners
  .map(
    (r) => `
[[runners]]
  name = "${r.name}"
  url = "${sim.url}"
  token = "${r.token}"
  executor = "memory"
  memory_cloud_dir = "${join(dir, 'cloud')}"
`,
  )
  .join('')}`
}

/** The daemon as a child process; its stderr collected. */
function daemon(args: string[], opts: {stdio2?: number; env?: NodeJS.ProcessEnv} = {}) {
  let err = ''
  const c = spawn(process.execPath, [BIN, ...args], {
    cwd: REPO,
    env: {
      ...process.env,
      OCLIF_SKIP_NEW_VERSION_CHECK: 'true',
      HEPTAPOD_PAAS_RUNNER_DATA_DIR: freshDataDir(),
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', opts.stdio2 ?? 'pipe'],
  })
  c.stderr?.on('data', (d: Buffer) => (err += d.toString()))
  children.push(c)
  return {child: c, stderr: () => err, exit: new Promise<number | null>((r) => c.once('exit', (code) => r(code)))}
}

describe("the original's command line", () => {
  it('`heptapod-paas-runner CONFIG -l INFO` runs the daemon, as systemd units of the original do', async () => {
    const path = join(dir, 'orig.toml')
    writeFileSync(path, config([{name: 'r', token: sim.createRunner().token}]))
    const r = await runCli([path, '-l', 'INFO', '--poll-cycles', '2'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toContain('all runners did 2 polling cycles')
    const w = await runCli(['run', '-c', path, '--logging-level', 'WARNING', '--poll-cycles', '1'])
    expect(w.code, w.stderr).toBe(0)
    expect(w.stderr).not.toContain('"level":30') // no INFO line at WARNING
    const bad = await runCli([path, '-l', 'LOUD'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("unknown log level 'LOUD'")
    const typo = await runCli(['stauts'])
    expect(typo.code).toBe(2)
    expect(typo.stderr).toContain("command 'stauts' not found; did you mean 'status'?")
  }, 60_000)
})

describe('signals', () => {
  it('SIGHUP reloads: an added runner takes jobs, a removed one finishes its job and takes no other; a broken file is refused and the daemon goes on', async () => {
    const a = sim.createRunner()
    const b = sim.createRunner()
    const c = sim.createRunner()
    const path = join(dir, 'reload.toml')
    writeFileSync(
      path,
      config([
        {name: 'a', token: a.token},
        {name: 'b', token: b.token},
      ]),
    )
    const d = daemon(['run', path])
    // The memory executor runs nothing: the test plays the inner runner and ends jobs itself.
    const onB = sim.enqueueJob({runnerToken: b.token})
    await waitUntil(() => sim.job(onB.id)!.status === 'running', 20_000, 'b runs a job')

    writeFileSync(
      path,
      config([
        {name: 'a', token: a.token},
        {name: 'c', token: c.token},
      ]),
    )
    d.child.kill('SIGHUP')
    await waitUntil(() => d.stderr().includes('configuration reloaded'), 20_000, 'reloaded').catch((e: Error) => {
      throw new Error(`${e.message}: ${d.stderr().slice(-3000)}`)
    })
    expect(d.stderr()).toContain("configuration reloaded: added 'c'; removed")
    const onC = sim.enqueueJob({runnerToken: c.token})
    const onBLater = sim.enqueueJob({runnerToken: b.token})
    await waitUntil(() => sim.job(onC.id)!.status === 'running', 30_000, 'c takes a job')
    sim.finishJob(onB.id, 'success')
    await waitUntil(
      () => d.stderr().includes('a runner removed from the configuration has no job left: it is gone'),
      30_000,
      "b's job over, b gone",
    )
    expect(sim.job(onBLater.id)!.status).toBe('pending')

    writeFileSync(path, '[quota_computation\nbroken')
    d.child.kill('SIGHUP')
    await waitUntil(() => d.stderr().includes('configuration reload refused'), 20_000, 'refused')
    expect(d.stderr()).toMatch(/configuration reload refused, the running configuration is kept: .*reload\.toml:1/)
    const still = sim.enqueueJob({runnerToken: a.token})
    await waitUntil(() => sim.job(still.id)!.status === 'running', 30_000, 'a still takes jobs')

    d.child.kill('SIGQUIT')
    expect(await d.exit).toBe(0)
    expect(d.stderr()).toContain('caught SIGQUIT: graceful shutdown')
  }, 120_000)
})

describe('status', () => {
  it('reaches a running daemon on its control socket (mode 0600, no listen_address): exit 0; none running: exit 3 with the last known quota', async () => {
    const path = join(dir, 'status.toml')
    writeFileSync(path, config([{name: 'r', token: sim.createRunner().token}]))
    const d = daemon(['run', path])
    const socket = controlSocketPath(join(dir, 'status.state.json'))
    await waitUntil(
      () => {
        try {
          return statSync(socket).isSocket()
        } catch {
          return false
        }
      },
      20_000,
      'the control socket',
    )
    expect(statSync(socket).mode & 0o777).toBe(0o600)
    const live = await runCli(['status', path, '--json'])
    expect(live.code, live.stderr).toBe(0)
    const report = JSON.parse(live.stdout) as {source: string; from: string; snapshot: {quota: {total: number}}}
    expect(report).toMatchObject({source: 'daemon', from: socket})
    expect(report.snapshot.quota.total).toBeCloseTo(152.2, 1)
    d.child.kill('SIGTERM')
    expect(await d.exit).toBe(0)
    const off = await runCli(['status', path])
    expect(off.code).toBe(3)
    expect(off.stdout).toContain('No daemon runs')
    expect(off.stdout).toMatch(/Quota: 0\.0 \/ 152\.2 \(last known\) used/)
    expect(off.stdout).not.toContain('no listen_address')
  }, 60_000)
})

describe('start-up', () => {
  let blocker: Server | undefined
  afterEach(() => blocker?.close())

  it('a listen_address in use: one clear line naming the key, exit 2', async () => {
    blocker = createServer()
    await new Promise<void>((r) => blocker!.listen(0, '127.0.0.1', r))
    const port = (blocker.address() as {port: number}).port
    const path = join(dir, 'busy.toml')
    writeFileSync(path, config([{name: 'r', token: sim.createRunner().token}], `listen_address = "127.0.0.1:${port}"`))
    const r = await runCli(['run', path])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(`${path}: listen_address: cannot listen on "127.0.0.1:${port}": address already in use`)
    expect(r.stderr).not.toMatch(/EADDRINUSE|\n\s+at /)
  })

  it('under journald (JOURNAL_STREAM names stderr) every line starts with its syslog priority', async () => {
    const path = join(dir, 'journal.toml')
    writeFileSync(path, config([{name: 'r', token: sim.createRunner().token}]))
    const log = join(dir, 'journal.log')
    const fd = openSync(log, 'w')
    const st = fstatSync(fd)
    const d = daemon(['run', path, '--poll-cycles', '2'], {stdio2: fd, env: {JOURNAL_STREAM: `${st.dev}:${st.ino}`}})
    expect(await d.exit).toBe(0)
    closeSync(fd)
    const lines = readFileSync(log, 'utf8').trim().split('\n')
    expect(lines.length).toBeGreaterThan(2)
    for (const l of lines) expect(l).toMatch(/^<[2-7]>\{/)
    expect(lines.some((l) => l.startsWith('<4>') && l.includes('"level":40'))).toBe(true)
    expect(lines.some((l) => l.startsWith('<6>') && l.includes('"level":30'))).toBe(true)
  }, 30_000)
})

describe('a registered runner takes a job (register, then run, against both simulators)', () => {
  it('the heaviest flavor fits: a 3XL job runs to success', async () => {
    const clever = new CleverSimulator({repoReadyDelayMs: 100})
    await clever.start()
    try {
      clever.addOrg('orga_reg', {token: 'cc-RegSecret-123'})
      const runner = sim.createRunner()
      const path = join(dir, 'fresh.toml')
      const r = await runCli([
        'register',
        '-c',
        path,
        '-n',
        '--url',
        sim.url,
        '--token',
        runner.token,
        '--name',
        'clever',
        '--executor',
        'clever-docker',
        '--set',
        `cc_api_url=${clever.apiUrl}`,
        '--set',
        'cc_multi_tenant=false',
        '--set',
        'cc_orga_id=orga_reg',
        '--set',
        'cc_token=cc-RegSecret-123',
        '--set',
        'cc_deployment_repo_wait_step=0.2',
        '--set',
        'check_interval=0.5',
      ])
      expect(r.code, r.stderr).toBe(0)
      expect(r.stderr).not.toContain('could not list the flavors')
      const job = sim.enqueueJob({flavor: '3XL'})
      const d = daemon(['run', '-c', path])
      await waitUntil(() => sim.job(job.id)!.status === 'success', 60_000, 'the 3XL job succeeded')
      d.child.kill('SIGTERM')
      expect(await d.exit).toBe(0)
    } finally {
      await clever.stop()
    }
  }, 120_000)
})

import {execFileSync, spawnSync} from 'node:child_process'
import {mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {GitLabSimulator} from '../src/sim/gitlab/gitlab-simulator.js'
import {BIN, freshDataDir, REPO} from './helpers/cli.js'
import {waitUntil} from './helpers/wait.js'

const hasTmux = spawnSync('tmux', ['-V']).status === 0
/** Said in the title only where the tests do not run. */
const NO_TMUX = hasTmux ? '' : ' (skipped: tmux is not installed)'
const session = `hpr-tui-${process.pid}`
const pauseSession = `hpr-tui-pause-${process.pid}`

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const {port} = s.address() as {port: number}
      s.close(() => resolve(port))
    })
  })
}

const demoTmps: string[] = []
afterAll(() => {
  for (const d of demoTmps) rmSync(d, {recursive: true, force: true})
})

/** A TMPDIR of its own for a demo: its log file lands there, for `explain`. */
function demoTmp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hpr-tui-demo-'))
  demoTmps.push(dir)
  return dir
}

/** For a failed wait: the screen, and the last lines of the logs the daemon wrote into `dir`. */
function explain(pane: () => string, dir: string): () => string {
  return () => {
    const logs = readdirSync(dir)
      .filter((f) => f.endsWith('.log'))
      .map((f) => `--- ${f} (last lines)\n${readFileSync(join(dir, f), 'utf8').split('\n').slice(-40).join('\n')}`)
    return `--- the screen\n${pane()}\n${logs.join('\n')}`
  }
}

/** The screen of the tmux pane, as a person would see it. */
function screen(name = session): string {
  return execFileSync('tmux', ['capture-pane', '-p', '-t', name], {encoding: 'utf8'})
}

describe.skipIf(!hasTmux)(`the demo in a real terminal (tmux)${NO_TMUX}`, () => {
  afterAll(() => {
    spawnSync('tmux', ['kill-session', '-t', session])
    spawnSync('tmux', ['kill-session', '-t', pauseSession])
  })

  it('fills the job table, moves the quota gauge, and q exits cleanly', async () => {
    const tmp = demoTmp()
    const cmd = `cd ${REPO} && env -u CI OCLIF_SKIP_NEW_VERSION_CHECK=true TMPDIR=${tmp} HEPTAPOD_PAAS_RUNNER_DATA_DIR=${freshDataDir()} node ${BIN} demo --jobs 40; echo "DEMO-EXIT=$?"; sleep 60`
    execFileSync('tmux', ['new-session', '-d', '-s', session, '-x', '120', '-y', '40', cmd])
    const watch = {everyMs: 50, explain: explain(() => screen(), tmp)}
    await waitUntil(
      () => /^\d+\s+demo\s+widgets\s+\S+\s+[\d.]+\s+running/m.test(screen()),
      60_000,
      'a running job in the table',
      watch,
    )
    const quota = () => /quota\s+\[[#.]+\] ([\d.]+)\/67\.0/.exec(screen())?.[1]
    const first = quota()
    expect(first).toBeDefined()
    await waitUntil(() => quota() !== undefined && quota() !== first, 30_000, 'the quota gauge to move', watch)
    expect(screen()).toMatch(/jobs\s+\[[#.]+\] \d+\/20/)
    execFileSync('tmux', ['send-keys', '-t', session, 'q'])
    await waitUntil(() => screen().includes('DEMO-EXIT='), 60_000, 'the demo to exit', watch)
    expect(screen()).toContain('DEMO-EXIT=0')
    expect(screen()).toMatch(/demo interrupted: \d+ succeeded/)
  }, 180_000)

  it('run --tui: p pauses intake (the held poll is dropped, a new job stays pending), p again resumes', async () => {
    const sim = new GitLabSimulator({longPollMs: 3_600_000})
    await sim.start()
    try {
      const dir = mkdtempSync(join(tmpdir(), 'hpr-tui-pause-'))
      const status = async (): Promise<{runners: Array<{intake: {state: string; reason?: string}}>} | undefined> => {
        try {
          return (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as never
        } catch {
          return undefined
        }
      }
      const port = await freePort()
      writeFileSync(
        join(dir, 'config.toml'),
        `listen_address = "127.0.0.1:${port}"
check_interval = 0.1
state_file = "${join(dir, 'state.json')}"
[quota_computation]
  reference_runner = "r"
  reference_flavor = "3XL"
  reference_jobs_count = 2
[[runners]]
  name = "r"
  url = "${sim.url}"
  token = "${sim.createRunner().token}"
  executor = "memory"
`,
      )
      const cmd = `cd ${REPO} && env -u CI OCLIF_SKIP_NEW_VERSION_CHECK=true HEPTAPOD_PAAS_RUNNER_DATA_DIR=${freshDataDir()} node ${BIN} run ${join(dir, 'config.toml')} --tui; echo "RUN-EXIT=$?"; sleep 60`
      execFileSync('tmux', ['new-session', '-d', '-s', pauseSession, '-x', '120', '-y', '40', cmd])
      await waitUntil(() => sim.heldPolls === 1, 60_000, 'the daemon holding a long poll')
      await waitUntil(() => screen(pauseSession).includes('p pause intake'), 60_000, 'the TUI on screen, taking keys')
      execFileSync('tmux', ['send-keys', '-t', pauseSession, 'p'])
      await waitUntil(() => screen(pauseSession).includes('INTAKE PAUSED'), 30_000, 'the paused banner')
      await waitUntil(
        async () => (await status())?.runners[0]?.intake.reason === 'paused by the operator',
        30_000,
        'intake paused by the operator in /status',
      )
      await waitUntil(() => sim.heldPolls === 0, 30_000, 'the held poll dropped')
      const job = sim.enqueueJob()
      const requests = sim.counters.get('POST /jobs/request')
      // Paused intake is re-checked every check_interval (0.1 s): let it go round a good many times.
      const cycles = async (n: number) => {
        for (let i = 0; i < n; i++)
          await waitUntil(async () => (await status())?.runners[0]?.intake.state === 'paused', 10_000, 'still paused')
      }
      await cycles(20)
      expect(sim.job(job.id)!.status).toBe('pending')
      expect(sim.counters.get('POST /jobs/request')).toBe(requests)
      execFileSync('tmux', ['send-keys', '-t', pauseSession, 'p'])
      await waitUntil(() => sim.job(job.id)!.status === 'running', 30_000, 'the job taken after resuming')
      await waitUntil(() => !screen(pauseSession).includes('INTAKE PAUSED'), 30_000, 'the banner gone')
      sim.finishJob(job.id, 'success')
      execFileSync('tmux', ['send-keys', '-t', pauseSession, 'q'])
      await waitUntil(() => screen(pauseSession).includes('RUN-EXIT='), 60_000, 'the daemon to exit')
      expect(screen(pauseSession)).toContain('RUN-EXIT=0')
    } finally {
      await sim.stop()
    }
  }, 180_000)
})

describe.skipIf(!hasTmux)(`the demo in an 80×24 terminal (tmux)${NO_TMUX}`, () => {
  const small = `hpr-tui-small-${process.pid}`
  const pane = (joined = false): string =>
    execFileSync('tmux', ['capture-pane', '-p', ...(joined ? ['-J'] : []), '-t', small], {encoding: 'utf8'})
  afterAll(() => {
    spawnSync('tmux', ['kill-session', '-t', small])
  })

  it('keeps its header in view with ? and the details open, wraps no line, and exits soon after q', async () => {
    const tmp = demoTmp()
    const cmd = `cd ${REPO} && env -u CI OCLIF_SKIP_NEW_VERSION_CHECK=true TMPDIR=${tmp} HEPTAPOD_PAAS_RUNNER_DATA_DIR=${freshDataDir()} node ${BIN} demo --jobs 40 2>${tmp}/stderr.log; echo "DEMO-EXIT=$?"; sleep 60`
    execFileSync('tmux', ['new-session', '-d', '-s', small, '-x', '80', '-y', '24', cmd])
    const watch = {everyMs: 50, explain: explain(() => pane(), tmp)}
    await waitUntil(() => /running/.test(pane()), 60_000, 'a running job', watch)
    execFileSync('tmux', ['send-keys', '-t', small, '?'])
    await waitUntil(() => pane().includes('this help'), 10_000, 'help', watch)
    execFileSync('tmux', ['send-keys', '-t', small, 'Enter'])
    await waitUntil(() => /job \d+ · runner demo/.test(pane()), 10_000, 'details', watch)
    const screen = pane()
    expect(screen.split('\n')[0]).toContain('heptapod-paas-runner up')
    // capture-pane -J joins wrapped lines: the same text means nothing wrapped.
    expect(pane(true).split('\n').length).toBe(screen.split('\n').length)
    expect(screen).toContain('q quit · p pause intake')
    execFileSync('tmux', ['send-keys', '-t', small, 'q'])
    await waitUntil(() => pane().includes('DEMO-EXIT='), 60_000, 'the demo to exit', watch)
    expect(pane()).toContain('DEMO-EXIT=0')
  }, 180_000)
})

import {execFileSync, spawnSync} from 'node:child_process'

import {afterAll, describe, expect, it} from 'vitest'

import {BIN, freshDataDir, REPO} from './helpers/cli.js'
import {waitUntil} from './helpers/wait.js'

const hasTmux = spawnSync('tmux', ['-V']).status === 0
const session = `hpr-tui-${process.pid}`

/** The screen of the tmux pane, as a person would see it. */
function screen(): string {
  return execFileSync('tmux', ['capture-pane', '-p', '-t', session], {encoding: 'utf8'})
}

describe.skipIf(!hasTmux)('the demo in a real terminal (tmux; skipped when tmux is not installed)', () => {
  afterAll(() => {
    spawnSync('tmux', ['kill-session', '-t', session])
  })

  it('fills the job table, moves the quota gauge, and q exits cleanly', async () => {
    const cmd = `cd ${REPO} && env -u CI OCLIF_SKIP_NEW_VERSION_CHECK=true HEPTAPOD_PAAS_RUNNER_DATA_DIR=${freshDataDir()} node ${BIN} demo --jobs 40; echo "DEMO-EXIT=$?"; sleep 60`
    execFileSync('tmux', ['new-session', '-d', '-s', session, '-x', '120', '-y', '40', cmd])
    await waitUntil(() => /^\d+\s+demo\s+widgets\s+\S+\s+[\d.]+\s+running/m.test(screen()), 60_000, 'a running job in the table')
    const quota = () => /quota\s+\[[#.]+\] ([\d.]+)\/67\.0/.exec(screen())?.[1]
    const first = quota()
    expect(first).toBeDefined()
    await waitUntil(() => quota() !== undefined && quota() !== first, 30_000, 'the quota gauge to move')
    expect(screen()).toMatch(/jobs\s+\[[#.]+\] \d+\/20/)
    execFileSync('tmux', ['send-keys', '-t', session, 'q'])
    await waitUntil(() => screen().includes('DEMO-EXIT='), 60_000, 'the demo to exit')
    expect(screen()).toContain('DEMO-EXIT=0')
    expect(screen()).toMatch(/demo interrupted: \d+ succeeded/)
  }, 180_000)
})

describe.skipIf(!hasTmux)('the demo in an 80×24 terminal (tmux; skipped when tmux is not installed)', () => {
  const small = `hpr-tui-small-${process.pid}`
  const pane = (joined = false): string => execFileSync('tmux', ['capture-pane', '-p', ...(joined ? ['-J'] : []), '-t', small], {encoding: 'utf8'})
  afterAll(() => {
    spawnSync('tmux', ['kill-session', '-t', small])
  })

  it('keeps its header in view with ? and the details open, wraps no line, and exits soon after q', async () => {
    const cmd = `cd ${REPO} && env -u CI OCLIF_SKIP_NEW_VERSION_CHECK=true HEPTAPOD_PAAS_RUNNER_DATA_DIR=${freshDataDir()} node ${BIN} demo --jobs 40 2>/dev/null; echo "DEMO-EXIT=$?"; sleep 60`
    execFileSync('tmux', ['new-session', '-d', '-s', small, '-x', '80', '-y', '24', cmd])
    await waitUntil(() => /running/.test(pane()), 60_000, 'a running job')
    execFileSync('tmux', ['send-keys', '-t', small, '?'])
    await waitUntil(() => pane().includes('this help'), 10_000, 'help')
    execFileSync('tmux', ['send-keys', '-t', small, 'Enter'])
    await waitUntil(() => /job \d+ · runner demo/.test(pane()), 10_000, 'details')
    const screen = pane()
    expect(screen.split('\n')[0]).toContain('heptapod-paas-runner up')
    // capture-pane -J joins wrapped lines: the same text means nothing wrapped.
    expect(pane(true).split('\n').length).toBe(screen.split('\n').length)
    expect(screen).toContain('q quit · p pause intake')
    execFileSync('tmux', ['send-keys', '-t', small, 'q'])
    await waitUntil(() => pane().includes('DEMO-EXIT='), 60_000, 'the demo to exit')
    expect(pane()).toContain('DEMO-EXIT=0')
  }, 180_000)
})

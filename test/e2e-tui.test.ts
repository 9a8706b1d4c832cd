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

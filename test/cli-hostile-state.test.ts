import {spawn, type ChildProcess} from 'node:child_process'
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {GitLabSimulator} from '../src/sim/gitlab/gitlab-simulator.js'
import {BIN, freshDataDir, REPO} from './helpers/cli.js'
import {waitUntil} from './helpers/wait.js'

/** Issue 12, items 4 and 8, end to end: a broken state file neither stops the daemon nor makes it deaf to SIGTERM. */

let sim: GitLabSimulator
let dir: string
let child: ChildProcess | undefined
beforeEach(async () => {
  sim = new GitLabSimulator()
  await sim.start()
  dir = mkdtempSync(join(tmpdir(), 'hpr-hostile-state-'))
})
afterEach(async () => {
  child?.kill('SIGKILL')
  await sim.stop()
})

const HEADER = '{"t":"header","format":"heptapod-paas-runner-state","version":1}\n'

describe('the daemon on a hostile state file', () => {
  it('a record with an unknown phase, or without weight, and a torn line in the middle: it starts, says so, and stops on SIGTERM', async () => {
    const token = sim.createRunner().token
    const uniq = token.slice(0, 8)
    const record = (jobId: number, o: Record<string, unknown>) =>
      JSON.stringify({
        t: 'put',
        r: {
          runner: uniq,
          jobId,
          jobToken: `glcbt-${jobId}-secret`,
          phase: 'running',
          weight: 1,
          expectedWeight: 1,
          traceOffset: 0,
          acquiredAt: 1,
          phaseSince: 1,
          ...o,
        },
      })
    const state = join(dir, 'state.json')
    writeFileSync(
      state,
      `${HEADER}${record(1, {phase: 'bogus'})}\n${record(2, {weight: undefined})}\n${record(3, {}).slice(0, 50)}${record(4, {phase: 'finished'})}\n`,
    )
    const config = join(dir, 'config.toml')
    writeFileSync(
      config,
      `check_interval = 0.1
state_file = "${state}"
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
    let err = ''
    child = spawn(process.execPath, [BIN, 'run', config], {
      cwd: REPO,
      env: {...process.env, OCLIF_SKIP_NEW_VERSION_CHECK: 'true', HEPTAPOD_PAAS_RUNNER_DATA_DIR: freshDataDir()},
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
    const exit = new Promise<number | null>((r) => child!.once('exit', (code) => r(code)))
    // The valid finished job (glued after the torn line) is resumed: nothing to delete, it is forgotten.
    await waitUntil(() => /job done: finished, nothing to delete/.test(err), 30_000, 'the valid record resumed')
    expect(err).toMatch(/state\.json:2: the record of job 1 .* is not valid \(r\.phase: /)
    expect(err).toMatch(/state\.json:3: the record of job 2 .* is not valid \(r\.weight: /)
    expect(err).toMatch(/state\.json:4: cut 50 bytes of a change that was never confirmed/)
    child.kill('SIGTERM')
    expect(await Promise.race([exit, new Promise((r) => setTimeout(() => r('SIGTERM ignored'), 20_000))])).toBe(0)
    expect(err).not.toContain('glcbt-1-secret')
    // The invalid records are still there for a human; the torn file was kept aside.
    expect(readFileSync(state, 'utf8')).toContain('"phase":"bogus"')
    expect(readFileSync(`${state}.torn`, 'utf8')).toContain(record(3, {}).slice(0, 50))
  }, 60_000)
})

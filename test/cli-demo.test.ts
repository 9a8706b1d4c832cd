import {spawn} from 'node:child_process'

import {describe, expect, it} from 'vitest'

import {BIN, freshDataDir, REPO, runCli} from './helpers/cli.js'
import {waitUntil} from './helpers/wait.js'

/** When the demo's daemon began its graceful stop (its log line's time), ms since the epoch. */
function stopRequestedAt(stderr: string): number {
  const line = stderr.split('\n').find((l) => l.includes('graceful shutdown: demo finished'))
  expect(line, stderr.slice(-2000)).toBeDefined()
  return Date.parse((JSON.parse(line!) as {time: string}).time)
}

describe('demo', () => {
  it('--jobs 12 ends with every job over and no app left, without a TTY, without a warning, within 2 s of the end of its work', async () => {
    let exitedAt = 0
    const r = await runCli(['demo', '--jobs', '12'], {env: {CI: 'true'}}).then((x) => {
      exitedAt = Date.now()
      return x
    })
    expect(r.code, r.stderr.slice(-2000)).toBe(0)
    expect(r.stdout).toMatch(
      /demo finished: 10 succeeded, 1 failed, 1 canceled, 0 not over; 0 app\(s\) left; peak weight of live apps [\d.]+ \/ quota 67\.0/,
    )
    const peak = Number(/peak weight of live apps ([\d.]+)/.exec(r.stdout)![1])
    expect(peak).toBeLessThanOrEqual(67.0)
    expect(r.stderr).not.toContain('demo-clever-token')
    expect(r.stderr).not.toContain('Warning')
    expect(exitedAt - stopRequestedAt(r.stderr)).toBeLessThan(2000)
  }, 120_000)

  it('--jobs 1 runs one normal job to success', async () => {
    const r = await runCli(['demo', '--jobs', '1'], {env: {CI: 'true'}})
    expect(r.code, r.stderr.slice(-2000)).toBe(0)
    expect(r.stdout).toContain('demo finished: 1 succeeded, 0 failed, 0 canceled, 0 not over; 0 app(s) left')
  }, 60_000)

  it('interrupted while the job a user will cancel is not running yet: exits as soon as it has stopped', async () => {
    // The fifth job is the one the demo's "user" cancels once it runs; interrupted before it runs,
    // that user's wait must end with the demo, not keep the process alive for its 120 s.
    const child = spawn(process.execPath, [BIN, 'demo', '--jobs', '5'], {
      cwd: REPO,
      env: {
        ...process.env,
        CI: 'true',
        OCLIF_SKIP_NEW_VERSION_CHECK: 'true',
        HEPTAPOD_PAAS_RUNNER_DATA_DIR: freshDataDir(),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    let code: number | null | undefined
    child.on('close', (c) => (code = c))
    try {
      await waitUntil(() => /"job":1004,.*"msg":"job acquired"/.test(stderr), 60_000, 'the fifth job acquired', {
        explain: () => stderr.slice(-2000),
      })
      child.kill('SIGINT')
      await waitUntil(() => stdout.includes('demo interrupted'), 30_000, 'the summary', {
        explain: () => stderr.slice(-2000),
      })
      // The summary is printed once everything is stopped: from there on, nothing may hold the process.
      await waitUntil(() => code !== undefined, 10_000, 'the demo to exit after its summary', {
        explain: () => `${stdout}\n${stderr.slice(-2000)}`,
      })
      expect(code).toBe(0)
    } finally {
      child.kill('SIGKILL')
    }
  }, 120_000)
})

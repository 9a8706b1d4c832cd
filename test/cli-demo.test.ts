import {describe, expect, it} from 'vitest'

import {runCli} from './helpers/cli.js'

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
})

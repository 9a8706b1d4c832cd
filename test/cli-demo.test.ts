import {describe, expect, it} from 'vitest'

import {runCli} from './helpers/cli.js'

describe('demo', () => {
  it('--jobs 10 ends with every job over and no app left, without a TTY', async () => {
    const r = await runCli(['demo', '--jobs', '10'], {env: {CI: 'true'}})
    expect(r.code, r.stderr.slice(-2000)).toBe(0)
    expect(r.stdout).toMatch(/demo finished: 8 succeeded, 1 failed, 1 canceled, 0 not over; 0 app\(s\) left; peak weight of live apps [\d.]+ \/ quota 67\.0/)
    const peak = Number(/peak weight of live apps ([\d.]+)/.exec(r.stdout)![1])
    expect(peak).toBeLessThanOrEqual(67.0)
    expect(r.stderr).not.toContain('demo-clever-token')
  }, 120_000)
})

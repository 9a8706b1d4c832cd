import {describe, expect, it} from 'vitest'

import {runCli} from './helpers/cli.js'

describe('heptapod-paas-runner --help', () => {
  it('lists the commands', async () => {
    const r = await runCli(['--help'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/USAGE\s+\$ heptapod-paas-runner \[COMMAND\]/)
    for (const cmd of ['quota', 'executors', 'plugins', 'help'])
      expect(r.stdout).toMatch(new RegExp(`^  ${cmd}\\s`, 'm'))
  })
})

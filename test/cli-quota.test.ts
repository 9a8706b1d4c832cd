import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {CleverSimulator} from '../src/sim/clever/clever-simulator.js'
import {REPO, runCli} from './helpers/cli.js'

const clever = new CleverSimulator()
beforeAll(async () => {
  await clever.start()
})
afterAll(async () => {
  await clever.stop()
})

describe('quota', () => {
  it('gives each flavor\'s RAM, CPUs, weight and fit for the seed example, from the live flavor list', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpr-quota-'))
    const seed = readFileSync(join(REPO, 'test/fixtures/config/seed-single-orga.toml'), 'utf8').replace('executor = "clever-docker"', `executor = "clever-docker"\n  cc_api_url = "${clever.apiUrl}"`)
    writeFileSync(join(dir, 'c.toml'), seed)
    const r = await runCli(['quota', join(dir, 'c.toml'), '--json'])
    expect(r.code, r.stderr).toBe(0)
    const q = JSON.parse(r.stdout) as {quota: number; explanation: string; runners: Array<{minRequestableWeight: number; flavors: Array<{name: string; ramMiB: number; cpus: number; weight: number; jobsFitting: number}>}>; warnings: string[]}
    expect(q.quota).toBeCloseTo(8 * 32 ** 1.25, 9) // 8 × 3XL ≈ 608.87
    expect(q.explanation).toBe("weight of 8 jobs with flavor 3XL (76.1 each) of runner 'clever-cloud'")
    for (const f of q.runners[0]!.flavors) {
      expect(f.weight).toBeCloseTo((f.ramMiB / 1024) ** 1.25, 9)
      expect(f.jobsFitting).toBe(Math.floor(q.quota / f.weight + 1e-9))
    }
    expect(q.runners[0]!.flavors.map((f) => [f.name, f.ramMiB, f.cpus])).toEqual([['XS', 2048, 1], ['S', 4096, 2], ['M', 8192, 4], ['L', 12288, 6], ['XL', 16384, 8], ['2XL', 24576, 12], ['3XL', 32768, 16]])
    expect(q.runners[0]!.minRequestableWeight).toBeCloseTo(32 ** 1.25, 9)
    expect(q.warnings).toEqual([expect.stringContaining('concurrent = 50 is below what the quota allows')])
    const text = await runCli(['quota', join(dir, 'c.toml')])
    expect(text.stdout).toContain('Weighted quota: 608.9')
    expect(text.stdout).not.toContain('bb52e490-d47e-47a4-b190-73e23eb17111')
  })

  it('warns when the quota is smaller than the largest flavor: intake would never start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpr-quota-'))
    writeFileSync(join(dir, 'c.toml'), `[quota_computation]\nreference_runner = "m"\nreference_flavor = "S"\nreference_jobs_count = 2\n[[runners]]\nname = "m"\nurl = "https://gitlab.example"\ntoken = "memory-token-123"\nexecutor = "memory"\n`)
    const r = await runCli(['quota', join(dir, 'c.toml'), '--json'])
    expect(JSON.parse(r.stdout).warnings).toContainEqual(expect.stringContaining('intake would never start'))
  })
})

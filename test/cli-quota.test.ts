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
  it("gives each flavor's RAM, CPUs, weight and fit for the seed example, from the live flavor list", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpr-quota-'))
    const seed = readFileSync(join(REPO, 'test/fixtures/config/seed-single-orga.toml'), 'utf8').replace(
      'executor = "clever-docker"',
      `executor = "clever-docker"\n  cc_api_url = "${clever.apiUrl}"`,
    )
    writeFileSync(join(dir, 'c.toml'), seed)
    const r = await runCli(['quota', join(dir, 'c.toml'), '--json'])
    expect(r.code, r.stderr).toBe(0)
    const q = JSON.parse(r.stdout) as {
      quota: number
      explanation: string
      runners: Array<{
        minRequestableWeight: number
        flavors: Array<{name: string; ramMiB: number; cpus: number; weight: number; jobsFitting: number}>
      }>
      warnings: string[]
    }
    // Expected figures worked out by hand (bc -l), not with the code's formula.
    expect(q.quota).toBeCloseTo(608.87404288139, 9) // 8 × 3XL = 8 × 76.109255360174
    expect(q.explanation).toBe("weight of 8 jobs with flavor 3XL (76.1 each) of runner 'clever-cloud'")
    expect(q.runners[0]!.flavors.map((f) => [f.name, f.ramMiB, f.cpus, f.jobsFitting])).toEqual([
      ['XS', 2048, 1, 256],
      ['S', 4096, 2, 107],
      ['M', 8192, 4, 45],
      ['L', 12288, 6, 27],
      ['XL', 16384, 8, 19],
      ['2XL', 24576, 12, 11],
      ['3XL', 32768, 16, 8],
    ])
    const weights = [
      2.3784142300054, 5.6568542494924, 13.454342644059, 22.33451661845, 32, 53.120732145615, 76.109255360174,
    ]
    q.runners[0]!.flavors.forEach((f, i) => expect(f.weight, f.name).toBeCloseTo(weights[i]!, 10))
    expect(q.runners[0]!.minRequestableWeight).toBeCloseTo(76.109255360174, 10)
    expect(q.warnings).toEqual([expect.stringContaining('concurrent = 50 is below what the quota allows')])
    const text = await runCli(['quota', join(dir, 'c.toml')])
    expect(text.stdout).toContain('Weighted quota: 608.9')
    expect(text.stdout).not.toContain('bb52e490-d47e-47a4-b190-73e23eb17111')
  })

  it('warns when the quota is smaller than the largest flavor: intake would never start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpr-quota-'))
    writeFileSync(
      join(dir, 'c.toml'),
      `[quota_computation]\nreference_runner = "m"\nreference_flavor = "S"\nreference_jobs_count = 2\n[[runners]]\nname = "m"\nurl = "https://gitlab.example"\ntoken = "memory-token-123"\nexecutor = "memory"\n`,
    )
    const r = await runCli(['quota', join(dir, 'c.toml'), '--json'])
    expect(JSON.parse(r.stdout).warnings).toContainEqual(expect.stringContaining('intake would never start'))
  })
})

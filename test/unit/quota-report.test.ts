import {describe, expect, it} from 'vitest'

import {parseConfig} from '../../src/core/config/parse-config.js'
import {buildQuotaReport} from '../../src/core/quota/quota-report.js'
import {MEMORY_FLAVORS} from '../../src/test-doubles/memory/memory-executor.js'
import {testExecutors} from '../helpers/executors.js'

const flavors = new Map(MEMORY_FLAVORS.map((f) => [f.name, f]))

function report(globals: string, reference: string, jobs: number, minRequestableWeight: number) {
  const config = parseConfig(
    `${globals}
[quota_computation]
  reference_runner = "r0"
  reference_flavor = "${reference}"
  reference_jobs_count = ${jobs}
[[runners]]
  name = "r0"
  url = "https://gitlab.example"
  token = "tok0abcd-runner-secret"
  executor = "memory"
`,
    {file: 'q.toml', executors: testExecutors, defaultStateFile: '/virtual/state'},
  )
  return buildQuotaReport(config, [{flavors, minRequestableWeight}])
}

/** Figures worked out with bc (see test/helpers/known-weights.ts), not with the code. */
describe('quota report', () => {
  it('the seed: 8 × 3XL, each flavor with its weight and how many fit; concurrent is the limit for small jobs', () => {
    const r = report('concurrent = 50', '3XL', 8, 76.109255360174)
    expect(r.quota).toBeCloseTo(608.87404288139, 9)
    expect(r.explanation).toBe("weight of 8 jobs with flavor 3XL (76.1 each) of runner 'r0'")
    expect(r.runners[0]!.flavors.map((f) => [f.name, f.jobsFitting])).toEqual([
      ['XS', 256],
      ['S', 107],
      ['M', 45],
      ['L', 27],
      ['XL', 19],
      ['2XL', 11],
      ['3XL', 8],
    ])
    expect(r.warnings).toEqual([
      "concurrent = 50 is below what the quota allows for runner 'r0' (256 jobs of flavor XS): concurrent will be the limit for small jobs",
    ])
  })

  it('says when intake can never start, and when the provisioning limit can never be reached', () => {
    const r = report('concurrent = 50\npaas_max_concurrent_provisioning = 60', 'XS', 2, 13.454342644059)
    expect(r.quota).toBeCloseTo(4.7568284600109, 9)
    expect(r.warnings).toEqual([
      "the quota (4.8) is smaller than the weight runner 'r0' needs free before it is polled (13.5): intake would never start for it",
      'paas_max_concurrent_provisioning = 60 is above concurrent = 50: it can never be reached',
    ])
  })

  it('says when the reference flavor is heavier than any job the runner accepts', () => {
    const r = report('concurrent = 40', '3XL', 1, 13.454342644059)
    expect(r.warnings).toEqual([
      "the reference flavor 3XL (76.1) is above the heaviest flavor runner 'r0' accepts (weight 13.5): the quota is not expressed in jobs that can run",
    ])
  })
})

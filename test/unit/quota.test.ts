import {describe, expect, it} from 'vitest'

import {admissionBlocker, describeBlocker} from '../../src/core/quota/admission.js'
import {KNOWN_WEIGHTS} from '../helpers/known-weights.js'
import {
  computeWeightedQuota,
  flavorWeight,
  jobsFitting,
  makeFlavor,
  minRequestableWeight,
  UnknownFlavorError,
} from '../../src/core/quota/index.js'

describe('flavor weight = (RAM GiB) ^ 1.25', () => {
  it.each(KNOWN_WEIGHTS)('%f GiB weighs %f', (gib, weight) => {
    expect(flavorWeight(gib * 1024)).toBeCloseTo(weight, 10)
  })

  it('16 times the RAM weighs 32 times as much', () => {
    expect(flavorWeight(16 * 2048) / flavorWeight(2048)).toBeCloseTo(32, 9)
  })

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY])('rejects a RAM of %s', (ram) => {
    expect(() => flavorWeight(ram)).toThrow(RangeError)
  })
})

const flavors = new Map(
  [makeFlavor('XS', 2048), makeFlavor('M', 8192), makeFlavor('XL', 16384), makeFlavor('3XL', 32768)].map((f) => [
    f.name,
    f,
  ]),
)

describe('weighted quota', () => {
  it('is the weight of N jobs of the reference flavor (seed: 8 × 3XL ≈ 608.874)', () => {
    const q = computeWeightedQuota(
      {referenceRunner: 'clever-cloud', referenceFlavor: '3XL', referenceJobsCount: 8},
      flavors,
    )
    expect(q.total).toBeCloseTo(608.87404288139, 9)
    expect(q.explanation).toContain("8 jobs with flavor 3XL (76.1 each) of runner 'clever-cloud'")
  })

  it('names the available flavors when the reference flavor is unknown', () => {
    expect(() =>
      computeWeightedQuota({referenceRunner: 'r', referenceFlavor: 'XXL', referenceJobsCount: 1}, flavors),
    ).toThrow(new UnknownFlavorError('XXL', ['XS', 'M', 'XL', '3XL']))
  })
})

describe('minimum requestable weight', () => {
  it('is the heaviest flavor', () => {
    expect(minRequestableWeight(flavors)).toBeCloseTo(76.109255360174, 10)
  })
  it('is the max flavor when one is configured', () => {
    expect(minRequestableWeight(flavors, 'M')).toBeCloseTo(13.454342644059, 10)
  })
  it('fails clearly on an unknown max flavor or no flavor at all', () => {
    expect(() => minRequestableWeight(flavors, 'nope', 'runners[0].cc_max_flavor')).toThrow(
      /runners\[0\]\.cc_max_flavor: the flavor 'nope' is not in the catalogue; available flavors: /,
    )
    expect(() => minRequestableWeight(flavors, 'nope')).toThrow(expect.objectContaining({code: 'flavor_config'}))
    expect(() => minRequestableWeight(new Map())).toThrow("unknown flavor '(any)'; available flavors: (none)")
  })
})

describe('admission: may a runner ask for a job?', () => {
  const M = 13.454342644059434 // 8 ** 1.25 as V8 computes it (the true value is 13.45434264405943268…)
  const base = {jobs: 2, concurrent: 10, provisioning: 0, maxProvisioning: 10, minRequestableWeight: M}

  it('admits a third M job in a quota of 3 × M despite float noise (3 × M − (M + M) is 3.6e-15 short of M)', () => {
    expect(3 * M - (M + M) < M).toBe(true) // the noise is real…
    expect(admissionBlocker({...base, quota: M * 3, weightInUse: M + M})).toBeUndefined() // …and tolerated
  })

  it('refuses when the free weight is really short, with the figures', () => {
    const b = admissionBlocker({...base, quota: M * 3 - 1e-6, weightInUse: M + M})
    expect(b).toMatchObject({kind: 'quota', used: M + M, total: M * 3 - 1e-6, needs: M})
    expect(describeBlocker(b!)).toBe('quota 26.9/40.4 used; largest flavor needs 13.5')
  })

  it('names the limit reached: concurrent first, then provisioning, and a quota not computed yet', () => {
    const words = (a: Parameters<typeof admissionBlocker>[0]): string | undefined => {
      const b = admissionBlocker(a)
      return b && describeBlocker(b)
    }
    expect(words({...base, quota: 100, weightInUse: 0, jobs: 10})).toBe('concurrent limit reached: 10/10 jobs')
    expect(words({...base, quota: 100, weightInUse: 0, provisioning: 10})).toBe(
      'provisioning limit reached: 10/10 jobs not yet started',
    )
    expect(words({...base, quota: undefined, weightInUse: 0})).toBe(
      'quota not computed yet (flavors of the reference runner unavailable)',
    )
    expect(admissionBlocker({...base, quota: 100, weightInUse: 0, jobs: 9, provisioning: 9})).toBeUndefined()
  })
})

describe('jobs fitting in a quota', () => {
  it('counts exactly N reference jobs despite float noise', () => {
    const f = flavors.get('3XL')!
    expect(jobsFitting(f.weight * 8, f)).toBe(8)
    expect(jobsFitting(f.weight * 8 - 0.01, f)).toBe(7)
  })
})

describe('admission with runners waiting ahead (fair shares)', () => {
  const base = {
    quota: 152.2,
    weightInUse: 0,
    jobs: 0,
    concurrent: 50,
    provisioning: 0,
    maxProvisioning: 10,
    minRequestableWeight: 76.1,
  }
  it.each([
    ['nobody ahead: the limits alone decide', {}, undefined],
    ['one ahead, room for both', {ahead: {names: ['a'], weight: 76.1}}, undefined],
    ['one ahead, room for one only: wait for the turn', {weightInUse: 10, ahead: {names: ['a'], weight: 76.1}}, 'turn'],
    ['concurrent would be reached by those ahead', {concurrent: 2, jobs: 1, ahead: {names: ['a'], weight: 0}}, 'turn'],
    [
      'provisioning would be reached by those ahead',
      {maxProvisioning: 2, provisioning: 1, ahead: {names: ['a'], weight: 0}},
      'turn',
    ],
    [
      'room left for one ahead and this one',
      {maxProvisioning: 3, provisioning: 1, ahead: {names: ['a'], weight: 0}},
      undefined,
    ],
    ['a limit reached blocks whatever the queue', {weightInUse: 100, ahead: {names: ['a'], weight: 76.1}}, 'quota'],
  ])('%s', (_t, over, kind) => {
    expect(admissionBlocker({...base, ...over})?.kind).toBe(kind)
  })
})

import {describe, expect, it} from 'vitest'

import {admissionBlocker} from '../../src/core/quota/admission.js'
import {computeWeightedQuota, flavorWeight, jobsFitting, makeFlavor, minRequestableWeight, UnknownFlavorError} from '../../src/core/quota/index.js'

describe('flavor weight = (RAM GiB) ^ 1.25', () => {
  // original-spec §3.1
  it.each([
    [1, 1.0],
    [2, 2.378],
    [4, 5.657],
    [8, 13.454],
    [16, 32.0],
    [24, 53.121],
    [32, 76.109],
    [64, 181.019],
  ])('%i GiB weighs %f', (gib, weight) => {
    expect(flavorWeight(gib * 1024)).toBeCloseTo(weight, 3)
  })

  it('16 times the RAM weighs 32 times as much', () => {
    expect(flavorWeight(16 * 2048) / flavorWeight(2048)).toBeCloseTo(32, 9)
  })

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY])('rejects a RAM of %s', (ram) => {
    expect(() => flavorWeight(ram)).toThrow(RangeError)
  })
})

const flavors = new Map(
  [makeFlavor('XS', 2048), makeFlavor('M', 8192), makeFlavor('XL', 16384), makeFlavor('3XL', 32768)].map((f) => [f.name, f]),
)

describe('weighted quota', () => {
  it('is the weight of N jobs of the reference flavor (seed: 8 × 3XL ≈ 608.87)', () => {
    const q = computeWeightedQuota({referenceRunner: 'clever-cloud', referenceFlavor: '3XL', referenceJobsCount: 8}, flavors)
    expect(q.total).toBeCloseTo(608.87, 2)
    expect(q.explanation).toContain("8 jobs with flavor 3XL (76.1 each) of runner 'clever-cloud'")
  })

  it('names the available flavors when the reference flavor is unknown', () => {
    expect(() => computeWeightedQuota({referenceRunner: 'r', referenceFlavor: 'XXL', referenceJobsCount: 1}, flavors)).toThrow(
      new UnknownFlavorError('XXL', ['XS', 'M', 'XL', '3XL']),
    )
  })
})

describe('minimum requestable weight', () => {
  it('is the heaviest flavor', () => {
    expect(minRequestableWeight(flavors)).toBeCloseTo(76.109, 3)
  })
  it('is the max flavor when one is configured', () => {
    expect(minRequestableWeight(flavors, 'M')).toBeCloseTo(13.454, 3)
  })
  it('fails clearly on an unknown max flavor or no flavor at all', () => {
    expect(() => minRequestableWeight(flavors, 'nope', 'runners[0].cc_max_flavor')).toThrow(/runners\[0\]\.cc_max_flavor: the flavor 'nope' is not in the catalogue; available flavors: /)
    expect(() => minRequestableWeight(flavors, 'nope')).toThrow(expect.objectContaining({code: 'flavor_config'}))
    expect(() => minRequestableWeight(new Map())).toThrow(UnknownFlavorError)
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
  const base = {quota: 152.2, weightInUse: 0, jobs: 0, concurrent: 50, provisioning: 0, maxProvisioning: 10, minRequestableWeight: 76.1}
  it.each([
    ['nobody ahead: the limits alone decide', {}, undefined],
    ['one ahead, room for both', {ahead: {names: ['a'], weight: 76.1}}, undefined],
    ['one ahead, room for one only: wait for the turn', {weightInUse: 10, ahead: {names: ['a'], weight: 76.1}}, 'turn'],
    ['concurrent would be reached by those ahead', {concurrent: 2, jobs: 1, ahead: {names: ['a'], weight: 0}}, 'turn'],
    ['a limit reached blocks whatever the queue', {weightInUse: 100, ahead: {names: ['a'], weight: 76.1}}, 'quota'],
  ])('%s', (_t, over, kind) => {
    expect(admissionBlocker({...base, ...over})?.kind).toBe(kind)
  })
})

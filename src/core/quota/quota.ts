import type {Flavor} from './flavor-weight.js'
import {UnknownFlavorError} from '@heptapod-paas-runner/plugin-api'

import {formatWeight} from './flavor-weight.js'

/** The flavor checks executors use too live in the SDK. */
export {
  FlavorConfigError,
  UnknownFlavorError,
  isFlavorConfigError,
  minRequestableWeight,
} from '@heptapod-paas-runner/plugin-api'

/** The `[quota_computation]` section: the quota is the weight of N jobs of one flavor of one runner. */
export interface QuotaComputation {
  referenceRunner: string
  referenceFlavor: string
  referenceJobsCount: number
}

export interface WeightedQuota {
  /** Total weight all runners together may use. */
  total: number
  /** Human explanation, e.g. "weight of 8 jobs with flavor 3XL (76.1 each) of runner 'clever-cloud'". */
  explanation: string
}

/**
 * weighted quota = weight(reference flavor) × reference_jobs_count.
 * Throws UnknownFlavorError when the reference flavor is not among the runner's flavors.
 */
export function computeWeightedQuota(qc: QuotaComputation, flavors: ReadonlyMap<string, Flavor>): WeightedQuota {
  const flavor = flavors.get(qc.referenceFlavor)
  if (!flavor) throw new UnknownFlavorError(qc.referenceFlavor, [...flavors.keys()])
  return {
    total: flavor.weight * qc.referenceJobsCount,
    explanation:
      `weight of ${qc.referenceJobsCount} jobs with flavor ${flavor.name} ` +
      `(${formatWeight(flavor.weight)} each) of runner '${qc.referenceRunner}'`,
  }
}

/** How many jobs of a flavor alone fit in the quota. */
export function jobsFitting(quota: number, flavor: Flavor): number {
  // Tolerate float noise: 8 × w must fit in a quota computed as w × 8.
  return Math.floor(quota / flavor.weight + 1e-9)
}

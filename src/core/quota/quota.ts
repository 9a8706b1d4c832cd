import type {Flavor} from './flavor-weight.js'
import {formatWeight} from './flavor-weight.js'

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

export class UnknownFlavorError extends Error {
  constructor(
    readonly flavor: string,
    readonly available: readonly string[],
  ) {
    super(`unknown flavor '${flavor}'; available flavors: ${available.length ? available.join(', ') : '(none)'}`)
  }
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

/**
 * The smallest free weight for which a runner may be polled. The coordinator cannot be
 * asked for a job below a given size, so we must assume the worst: the heaviest flavor
 * the runner allows, or `maxFlavor` when one is configured.
 */
export function minRequestableWeight(flavors: ReadonlyMap<string, Flavor>, maxFlavor?: string): number {
  if (maxFlavor !== undefined) {
    const f = flavors.get(maxFlavor)
    if (!f) throw new UnknownFlavorError(maxFlavor, [...flavors.keys()])
    return f.weight
  }
  let max = 0
  for (const f of flavors.values()) max = Math.max(max, f.weight)
  if (max === 0) throw new UnknownFlavorError('(any)', [])
  return max
}

/** How many jobs of a flavor alone fit in the quota. */
export function jobsFitting(quota: number, flavor: Flavor): number {
  // Tolerate float noise: 8 × w must fit in a quota computed as w × 8.
  return Math.floor(quota / flavor.weight + 1e-9)
}

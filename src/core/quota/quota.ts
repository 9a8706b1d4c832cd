import {PaasRunnerError} from '../errors.js'
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
 * A runner's configuration names a flavor its executor's catalogue does not list (`cc_max_flavor
 * = "XXL"`): the runner cannot take any job. Recognised by its code, `flavor_config`.
 */
export class FlavorConfigError extends PaasRunnerError {
  constructor(
    /** Config key path, e.g. `runners[0].cc_max_flavor`. */
    readonly key: string,
    readonly flavor: string,
    readonly available: readonly string[],
  ) {
    super('flavor_config', `${key}: the flavor '${flavor}' is not in the catalogue; available flavors: ${available.length ? available.join(', ') : '(none)'}`)
  }
}

export function isFlavorConfigError(e: unknown): e is FlavorConfigError {
  return typeof e === 'object' && e !== null && (e as {code?: unknown}).code === 'flavor_config'
}

/**
 * The smallest free weight for which a runner may be polled. The coordinator cannot be
 * asked for a job below a given size, so we must assume the worst: the heaviest flavor
 * the runner allows, or `maxFlavor` when one is configured.
 */
export function minRequestableWeight(flavors: ReadonlyMap<string, Flavor>, maxFlavor?: string, key = 'max flavor'): number {
  if (maxFlavor !== undefined) {
    const f = flavors.get(maxFlavor)
    if (!f) throw new FlavorConfigError(key, maxFlavor, [...flavors.keys()])
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

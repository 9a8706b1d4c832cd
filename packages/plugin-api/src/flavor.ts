import {PaasRunnerError} from './errors.js'

/**
 * A flavor is a size of PAAS resource a job can ask for.
 * Weights make a mix of small and big jobs comparable under one quota.
 */
export interface Flavor {
  /** User-facing name, e.g. `M` or `3XL` (the Clever name minus its prefix). */
  name: string
  /** RAM in MiB. */
  ramMiB: number
  /** Number of CPUs, when the PAAS says. */
  cpus?: number
  /** (ramMiB / 1024) ^ 1.25; see `flavorWeight`. */
  weight: number
}

/** Exponent of the weight formula: super-linear so that small jobs are favoured. */
export const WEIGHT_EXPONENT = 1.25

/**
 * Weight of a flavor from its RAM: (RAM in GiB) ^ 1.25. Never rounded.
 * A flavor with 16 times the RAM weighs 32 times as much.
 */
export function flavorWeight(ramMiB: number): number {
  if (!Number.isFinite(ramMiB) || ramMiB <= 0)
    throw new RangeError(`flavor RAM must be a positive number of MiB, got ${ramMiB}`)
  return (ramMiB / 1024) ** WEIGHT_EXPONENT
}

export function makeFlavor(name: string, ramMiB: number, cpus?: number): Flavor {
  return {name, ramMiB, weight: flavorWeight(ramMiB), ...(cpus === undefined ? {} : {cpus})}
}

/** Weights print with one decimal everywhere (logs, status, TUI). */
export function formatWeight(w: number): string {
  return w.toFixed(1)
}

/** A flavor was asked for that the catalogue does not list. Code `unknown_flavor`. */
export class UnknownFlavorError extends Error {
  readonly code = 'unknown_flavor'

  constructor(
    readonly flavor: string,
    readonly available: readonly string[],
  ) {
    super(`unknown flavor '${flavor}'; available flavors: ${available.length ? available.join(', ') : '(none)'}`)
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
    super(
      'flavor_config',
      `${key}: the flavor '${flavor}' is not in the catalogue; available flavors: ${available.length ? available.join(', ') : '(none)'}`,
    )
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
export function minRequestableWeight(
  flavors: ReadonlyMap<string, Flavor>,
  maxFlavor?: string,
  key = 'max flavor',
): number {
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

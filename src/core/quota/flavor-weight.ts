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
  if (!Number.isFinite(ramMiB) || ramMiB <= 0) throw new RangeError(`flavor RAM must be a positive number of MiB, got ${ramMiB}`)
  return (ramMiB / 1024) ** WEIGHT_EXPONENT
}

export function makeFlavor(name: string, ramMiB: number, cpus?: number): Flavor {
  return {name, ramMiB, weight: flavorWeight(ramMiB), ...(cpus === undefined ? {} : {cpus})}
}

/** Weights print with one decimal everywhere (logs, status, TUI). */
export function formatWeight(w: number): string {
  return w.toFixed(1)
}

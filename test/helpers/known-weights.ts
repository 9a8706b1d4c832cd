/**
 * Flavor weights written down independently of the code: (RAM GiB) ^ 1.25 computed with
 * `bc -l` (e(1.25*l(GiB)), 20 digits), cut to 14 significant digits. Tests compare with these,
 * never with `flavorWeight`, so a wrong formula cannot agree with itself.
 */
export const KNOWN_WEIGHTS: ReadonlyArray<[gib: number, weight: number]> = [
  [0.5, 0.42044820762686],
  [1, 1],
  [2, 2.3784142300054],
  [4, 5.6568542494924],
  [8, 13.454342644059],
  [12, 22.33451661845],
  [16, 32],
  [24, 53.120732145615],
  [32, 76.109255360174],
  [64, 181.01933598376],
]

/** Weight of a RAM size (MiB) from the table; throws for a size the table lacks. */
export function knownWeight(ramMiB: number): number {
  const row = KNOWN_WEIGHTS.find(([gib]) => gib * 1024 === ramMiB)
  if (!row)
    throw new Error(`no known weight for ${ramMiB} MiB: add it to test/helpers/known-weights.ts (computed with bc)`)
  return row[1]
}

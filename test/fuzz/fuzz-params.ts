import type {Parameters} from 'fast-check'

/**
 * Property-based fuzzing parameters. `npm test` runs each target with a fixed seed and a
 * modest number of runs (the same inputs every time, so CI is reproducible); `npm run fuzz`
 * (FUZZ=long) runs many more with a fresh seed, printed with any counterexample. Replay one
 * with FUZZ_SEED=<seed>.
 */
export function fuzz<T>(runs: number): Parameters<T> {
  const long = process.env.FUZZ === 'long'
  const seed =
    process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : long ? Date.now() % 2_147_483_647 : 20_261_201
  return {seed, numRuns: long ? runs * 50 : runs}
}

/** Test timeout for a fuzz target: the long run needs more time. */
export const FUZZ_TIMEOUT_MS = process.env.FUZZ === 'long' ? 1_800_000 : 60_000

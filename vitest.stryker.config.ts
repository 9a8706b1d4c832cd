import {defineConfig} from 'vitest/config'

import base from './vitest.config.js'

/**
 * The tests `npm run mutate` (StrykerJS) runs against each mutant of src/core: the in-process
 * ones (unit tests, the executor and coordinator contracts). Tests that spawn the compiled CLI
 * would test dist/, which Stryker does not mutate.
 */
export default defineConfig({
  resolve: base.resolve,
  test: {
    ...base.test,
    include: ['test/unit/**/*.test.{ts,tsx}', 'test/executor-contract.test.ts', 'test/coordinator-contract.test.ts'],
    // Stryker runs the tests in worker threads, where process.umask() throws; the control socket
    // (an adapter, not mutated) sets it around its bind.
    exclude: ['test/unit/control-socket.test.ts'],
    // Each mutant run reuses the loaded modules (Stryker switches mutants with a global): without
    // this, every run would import the test files and their graph again, which dominates.
    isolate: false,
  },
})

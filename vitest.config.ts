import {availableParallelism} from 'node:os'
import {fileURLToPath} from 'node:url'

import {defineConfig} from 'vitest/config'

const sdk = (path: string): string => fileURLToPath(new URL(`packages/plugin-api/src/${path}`, import.meta.url))

export default defineConfig({
  // In-process tests run the SDK from its sources (no build needed); the CLI children use its dist/.
  resolve: {
    alias: [
      {find: /^@heptapod-paas-runner\/plugin-api$/, replacement: sdk('index.ts')},
      {find: /^@heptapod-paas-runner\/plugin-api\/testing$/, replacement: sdk('testing/index.ts')},
      {find: /^@heptapod-paas-runner\/plugin-api\/undici$/, replacement: sdk('undici.ts')},
    ],
  },
  test: {
    include: ['test/**/*.test.{ts,tsx}', 'src/**/*.test.{ts,tsx}'],
    environment: 'node',
    // @oclif/core's ux.stdout uses console.log; @oclif/test's captureOutput stubs process.stdout.write.
    disableConsoleIntercept: true,
    // Two files at a time even on 2 cores (vitest's default there is one): most of an end-to-end
    // file's time is spent waiting on its child processes, Docker and PostgreSQL. Measured on this
    // 2-core machine (2026-12-01): 370 s → 210 s; with two busy loops beside it, 651 s → 318 s.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    testTimeout: 30000,
    hookTimeout: 30000,
    setupFiles: ['test/helpers/child-coverage.ts'],
    // Where no PostgreSQL answers, a private one from the machine's binaries (initdb + pg_ctl).
    globalSetup: ['test/helpers/private-postgres.ts'],
    // `npm run coverage` (scripts/coverage.mjs) adds the CLI child processes to these figures.
    coverage: {
      provider: 'v8',
      include: ['src/**/*.{ts,tsx}', 'packages/plugin-api/src/**/*.ts'],
      reporter: ['json'],
      reportsDirectory: 'coverage/in-process',
      // The figures are for reading: report them even when a test failed.
      reportOnFailure: true,
    },
  },
})

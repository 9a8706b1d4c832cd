import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.{ts,tsx}', 'src/**/*.test.{ts,tsx}'],
    environment: 'node',
    // @oclif/core's ux.stdout uses console.log; @oclif/test's captureOutput stubs process.stdout.write.
    disableConsoleIntercept: true,
    testTimeout: 30000,
    hookTimeout: 30000,
    setupFiles: ['test/helpers/child-coverage.ts'],
    // `npm run coverage` (scripts/coverage.mjs) adds the CLI child processes to these figures.
    coverage: {
      provider: 'v8',
      include: ['src/**/*.{ts,tsx}'],
      reporter: ['json'],
      reportsDirectory: 'coverage/in-process',
      // The figures are for reading: report them even when a test failed.
      reportOnFailure: true,
    },
  },
})

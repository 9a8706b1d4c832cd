import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.{ts,tsx}', 'src/**/*.test.{ts,tsx}'],
    environment: 'node',
    // @oclif/core's ux.stdout uses console.log; @oclif/test's captureOutput stubs process.stdout.write.
    disableConsoleIntercept: true,
    testTimeout: 30000,
    hookTimeout: 30000,
  },
})

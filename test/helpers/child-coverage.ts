/**
 * Vitest setup file. Under `npm run coverage`, HPR_CHILD_COVERAGE names a directory: the CLI
 * processes the tests spawn then write their V8 coverage there (Node passes NODE_V8_COVERAGE on
 * to every child, even one given its own env), and scripts/coverage.mjs merges it with the
 * in-process figures. Without it, nothing changes.
 */
if (process.env.HPR_CHILD_COVERAGE) process.env.NODE_V8_COVERAGE = process.env.HPR_CHILD_COVERAGE

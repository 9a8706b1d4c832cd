// ESLint: typescript-eslint's recommended rules, plus the type-aware rules that guard a daemon
// (a floating or misused promise is an unhandled rejection waiting to kill it). Formatting is
// Prettier's business (eslint-config-prettier turns off the rules that would disagree with it).
import js from '@eslint/js'
import prettier from 'eslint-config-prettier'
import globals from 'globals'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'coverage/**',
      'reports/**',
      '.stryker-tmp/**',
      'packages/*/dist/**',
      'examples/*/dist/**',
      'examples/*/node_modules/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.{ts,tsx}'],
    languageOptions: {
      parserOptions: {
        project: [
          './tsconfig.test.json',
          './packages/plugin-api/tsconfig.json',
          './examples/executor-template/tsconfig.json',
        ],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', {checksVoidReturn: {arguments: false, attributes: false}}],
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': ['error', {considerDefaultExhaustiveForUnions: true}],
      '@typescript-eslint/consistent-type-imports': ['error', {fixStyle: 'inline-type-imports'}],
      '@typescript-eslint/no-unused-vars': [
        'error',
        {argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none'},
      ],
      eqeqeq: ['error', 'always', {null: 'ignore'}],
      'no-console': 'error',
      // A variable assigned once, after the closures that read it are made (signal handlers).
      'prefer-const': ['error', {ignoreReadBeforeAssign: true}],
    },
  },
  {
    // The template's tests and configs are in no tsconfig (its build compiles src/ only).
    files: ['examples/*/test/**', 'examples/*/*.config.ts'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['**/*.{js,mjs}'],
    languageOptions: {globals: globals.node},
  },
  {
    // bin/run.cjs: CommonJS (a faster start), so `require` and `__filename` are its globals.
    files: ['**/*.cjs'],
    languageOptions: {globals: globals.node, sourceType: 'commonjs'},
    rules: {'@typescript-eslint/no-require-imports': 'off'},
  },
  {
    // Tests drive untyped third-party clients (fidelity suites) and print what they saw on failure.
    files: ['test/**'],
    rules: {'@typescript-eslint/no-explicit-any': 'off', 'no-console': 'off'},
  },
  {
    // Scripts and entry points talk to the terminal on purpose.
    files: ['bin/**', 'scripts/**', 'src/bench/**', 'src/sim/docker/inner-runner-main.ts', '**/*.mjs'],
    rules: {'no-console': 'off'},
  },
  prettier,
)

import fc from 'fast-check'
import {stringify} from 'smol-toml'
import {describe, expect, it} from 'vitest'

import {parseConfig} from '../../src/core/config/parse-config.js'
import type {Config} from '../../src/core/config/config-types.js'
import {ConfigError} from '../../src/core/errors.js'
import {BASE} from '../helpers/bad-configs.js'
import {testExecutors} from '../helpers/executors.js'
import {fuzz, FUZZ_TIMEOUT_MS} from './fuzz-params.js'

/** Issue 12: the config parser, fed anything, returns a config that behaves or a ConfigError; never anything else. */

const SECRET = 'glrt-FuZzSeCrEtToKeN-0001'

const number = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(
    0,
    -1,
    0.05,
    0.1,
    1,
    3,
    3600,
    3601,
    65535,
    65536,
    99999,
    3_000_000,
    1e-300,
    1e308,
    Number.MAX_SAFE_INTEGER,
    2 ** 53 + 2,
  ),
)
const scalar = fc.oneof(
  number,
  fc.boolean(),
  fc.string({maxLength: 20}),
  fc.constantFrom('127.0.0.1:9252', ':99999', ':0', '[::1]:80', 'host:port', '', 'warning', 'debug'),
)
const value = fc.oneof(
  {depthSize: 'small'},
  scalar,
  fc.array(scalar, {maxLength: 3}),
  fc.dictionary(fc.string({maxLength: 8}), scalar, {maxKeys: 3}),
)
const GLOBAL_KEYS = [
  'concurrent',
  'check_interval',
  'job_progress_poll_interval',
  'paas_max_concurrent_provisioning',
  'paas_finished_jobs_keep_resources',
  'paas_decommission_launch_failures',
  'state_file',
  'listen_address',
  'log_level',
  'job_progress_interval',
  'job_trace_watch',
] as const
const RUNNER_KEYS = [
  'name',
  'url',
  'token',
  'executor',
  'id',
  'memory_default_flavor',
  'memory_max_flavor',
  'paas_job_trace_watch',
  'heptapod_runner_main_image',
  'cc_orga_id',
  'cc_deployment_repo_timeout',
] as const

/** A valid document with a few of its values replaced: most runs load, so the invariants of a loaded config are exercised. */
const PATHS = [
  ...GLOBAL_KEYS.map((k) => `global.${k}`),
  'quota.reference_jobs_count',
  'quota.reference_flavor',
  'quota.reference_runner',
  ...RUNNER_KEYS.map((k) => `runner.${k}`),
  'watch.timeout_seconds',
  'watch.poll_step',
  'watch.token',
  'watch.timout_seconds',
  'root.runners',
  'root.quota_computation',
]
const document = fc
  .dictionary(fc.constantFrom(...PATHS), fc.oneof({weight: 3, arbitrary: number}, {weight: 1, arbitrary: value}), {
    minKeys: 1,
    maxKeys: 3,
  })
  .map((overrides) => {
    const watch: Record<string, unknown> = {token: 'glpat-FuZzWaTcHtOkEn'}
    const run: Record<string, unknown> = {
      name: 'mem',
      url: 'https://gitlab.example.com',
      token: SECRET,
      executor: 'memory',
      paas_job_trace_watch: watch,
    }
    const quota: Record<string, unknown> = {reference_runner: 'mem', reference_flavor: 'M', reference_jobs_count: 4}
    const doc: Record<string, unknown> = {
      concurrent: 20,
      state_file: '/tmp/fuzz-state',
      quota_computation: quota,
      runners: [run],
    }
    const tables: Record<string, Record<string, unknown>> = {global: doc, quota, runner: run, watch, root: doc}
    for (const [path, v] of Object.entries(overrides)) {
      const [table, key] = path.split('.') as [string, string]
      tables[table]![key] = v
    }
    return doc
  })

function parse(text: string): Config | ConfigError {
  try {
    return parseConfig(text, {file: 'fuzz.toml', executors: testExecutors, defaultStateFile: '/tmp/fuzz-state'})
  } catch (error) {
    if (error instanceof ConfigError) return error
    throw error
  }
}

/** What a config that loaded promises: every number in its range, every timer safe. */
function checkInvariants(c: Config): void {
  expect(Number.isInteger(c.concurrent) && c.concurrent >= 1 && c.concurrent <= 10_000).toBe(true)
  expect(
    Number.isInteger(c.maxConcurrentProvisioning) &&
      c.maxConcurrentProvisioning >= 1 &&
      c.maxConcurrentProvisioning <= 10_000,
  ).toBe(true)
  for (const s of [c.checkInterval, c.jobProgressPollInterval]) expect(s >= 0.1 && s <= 3600).toBe(true)
  expect(c.quotaComputation.referenceJobsCount > 0 && c.quotaComputation.referenceJobsCount <= 100_000).toBe(true)
  if (c.listenAddress !== undefined) {
    const port = Number(c.listenAddress.slice(c.listenAddress.lastIndexOf(':') + 1))
    expect(port >= 1 && port <= 65535).toBe(true)
  }
  for (const r of c.runners) {
    if (r.traceWatch)
      expect(
        r.traceWatch.timeoutSeconds >= 1 &&
          r.traceWatch.timeoutSeconds <= 86_400 &&
          r.traceWatch.pollStep >= 0.1 &&
          r.traceWatch.pollStep <= 3600,
      ).toBe(true)
  }
}

function checkError(e: ConfigError): void {
  expect(e.issues.length).toBeGreaterThan(0)
  for (const i of e.issues) expect(i.message).not.toMatch(/\n/)
  expect(e.message).not.toContain(SECRET)
}

describe('fuzz: the config parser', () => {
  it(
    'structured documents of known keys with hostile values',
    () => {
      fc.assert(
        fc.property(document, (doc) => {
          let text: string
          try {
            text = stringify(doc)
          } catch {
            fc.pre(false)
            return
          }
          const r = parse(text)
          if (r instanceof ConfigError) checkError(r)
          else checkInvariants(r)
        }),
        fuzz(300),
      )
    },
    FUZZ_TIMEOUT_MS,
  )

  it(
    'a valid file with random bytes changed, inserted or cut',
    () => {
      const edit = fc.record({
        at: fc.nat(BASE.length),
        cut: fc.nat(8),
        insert: fc.string({
          maxLength: 8,
          unit: fc.constantFrom(...'"\'=[]{}.,#\n\\ 0123456789abcdefinf-+:e\u0000\u00e9'),
        }),
      })
      fc.assert(
        fc.property(fc.array(edit, {minLength: 1, maxLength: 4}), (edits) => {
          let text = BASE
          for (const e of edits) text = text.slice(0, e.at) + e.insert + text.slice(e.at + e.cut)
          const r = parse(text)
          if (r instanceof ConfigError) {
            for (const i of r.issues) expect(i.message).not.toMatch(/\n/)
          } else checkInvariants(r)
        }),
        fuzz(500),
      )
    },
    FUZZ_TIMEOUT_MS,
  )
})

describe('found by fuzzing, kept as examples', () => {
  it('a [[runners]] entry that is not a table is a ConfigError, not a TypeError', () => {
    const r = parse(
      stringify({
        concurrent: 20,
        quota_computation: {reference_runner: 'mem', reference_flavor: 'M', reference_jobs_count: 4},
        runners: [''],
      }),
    )
    expect(r).toBeInstanceOf(ConfigError)
    expect((r as ConfigError).issues.map((i) => i.path)).toEqual(['runners[0]'])
  })

  it('a value with a newline is quoted on one line', () => {
    const r = parse(BASE.replace('executor = "memory"', 'executor = "\\nmemory"'))
    expect((r as ConfigError).message).toContain("unknown executor '\\nmemory'")
    expect((r as ConfigError).message.split('\n')).toHaveLength(1)
  })
})

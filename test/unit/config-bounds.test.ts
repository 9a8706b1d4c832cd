import {describe, expect, it, vi} from 'vitest'

import {abortableSleep} from '../../src/adapters/clock/real-clock.js'

import {parseConfig} from '../../src/core/config/parse-config.js'
import {ConfigError} from '../../src/core/errors.js'
import {BASE} from '../helpers/bad-configs.js'
import {testExecutors} from '../helpers/executors.js'

/** Issue 12, item 6: values that validate must also behave; every number has a range, with its unit. */

function issues(toml: string): string[] {
  try {
    parseConfig(toml, {file: 'cfg.toml', executors: testExecutors, defaultStateFile: '/tmp/s'})
  } catch (error) {
    if (error instanceof ConfigError) return error.issues.map((i) => `${i.path}: ${i.message}`)
    throw error
  }
  return []
}

const withGlobal = (line: string): string => `${line}\n${BASE}`
const withWatch = (line: string): string =>
  BASE.replace('[runners.paas_job_trace_watch]', `[runners.paas_job_trace_watch]\n    ${line}`)
const cleverRunner = (line: string): string =>
  BASE.replace(
    'executor = "memory"',
    `executor = "clever-docker"\n  cc_orga_id = "orga_x"\n  cc_token = "cc-secret-token-123"\n  ${line}`,
  )

describe('numeric bounds of the configuration', () => {
  it.each(
    [
      // The values of the issue: each validated, then misbehaved.
      [withGlobal('check_interval = 3000000'), 'check_interval: must be a number of seconds from 0.1 to 3600 (1 h)'],
      [withGlobal('check_interval = 1e-300'), 'check_interval: must be a number of seconds from 0.1 to 3600 (1 h)'],
      [
        withGlobal('job_progress_poll_interval = 3000000'),
        'job_progress_poll_interval: must be a number of seconds from 0.1 to 3600 (1 h)',
      ],
      [
        BASE.replace('reference_jobs_count = 4', 'reference_jobs_count = 1e308'),
        'quota_computation.reference_jobs_count: must be a number of jobs above 0 and at most 100000',
      ],
      [withGlobal('listen_address = ":99999"'), 'listen_address: the port must be from 1 to 65535'],
      [withGlobal('listen_address = "127.0.0.1:0"'), 'listen_address: the port must be from 1 to 65535'],
      // Not finite, anywhere.
      [withGlobal('check_interval = inf'), 'check_interval: Invalid input: expected number, received Infinity'],
      [
        withGlobal('job_progress_poll_interval = nan'),
        'job_progress_poll_interval: Invalid input: expected number, received NaN',
      ],
      [
        BASE.replace('concurrent = 20', 'concurrent = 1000000'),
        'concurrent: must be a whole number of jobs from 1 to 10000',
      ],
      [
        withGlobal('paas_max_concurrent_provisioning = 99999999'),
        'paas_max_concurrent_provisioning: must be a whole number of jobs from 1 to 10000',
      ],
      [
        withWatch('timeout_seconds = 1e12'),
        'runners[0].paas_job_trace_watch.timeout_seconds: must be a number of seconds from 1 to 86400 (24 h)',
      ],
      [
        withWatch('poll_step = 0.000001'),
        'runners[0].paas_job_trace_watch.poll_step: must be a number of seconds from 0.1 to 3600 (1 h)',
      ],
      [
        cleverRunner('cc_deployment_repo_timeout = 1e9'),
        'runners[0].cc_deployment_repo_timeout: must be a number of seconds from 1 to 3600 (1 h)',
      ],
      [
        cleverRunner('cc_deployment_repo_wait_step = 0'),
        'runners[0].cc_deployment_repo_wait_step: must be a number of seconds from 0.01 to 600 (10 min)',
      ],
    ].map(([toml, expected]) => ({toml: toml!, expected: expected!})),
  )('$expected', ({toml, expected}) => {
    expect(issues(toml)).toEqual([expected])
  })

  it('the values of the README and of the tests stay valid', () => {
    expect(
      issues(withGlobal('check_interval = 0.1\njob_progress_poll_interval = 3600\nlisten_address = "127.0.0.1:9252"')),
    ).toEqual([])
  })
})

describe('timers', () => {
  it("a delay beyond node's timer limit waits that limit instead of firing after 1 ms", async () => {
    vi.useFakeTimers()
    try {
      let done = false
      void abortableSleep(3_000_000_000).then(() => (done = true))
      await vi.advanceTimersByTimeAsync(60_000)
      expect(done).toBe(false)
      await vi.advanceTimersByTimeAsync(2_147_483_647)
      expect(done).toBe(true)
    } finally {
      vi.useRealTimers()
    }
  })
})

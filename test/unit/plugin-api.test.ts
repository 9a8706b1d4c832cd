import {afterEach, describe, expect, it, vi} from 'vitest'

import {
  JobRejectedError,
  PaasRunnerError,
  dns1123Label,
  dns1123ResourceName,
  dockerName,
  hasCode,
  isDns1123Label,
  isJobRejected,
  buildContextFiles,
  type RunnerConfig,
} from '@heptapod-paas-runner/plugin-api'
import {MemoryExecutor} from '../../src/test-doubles/memory/memory-executor.js'
import {Harness} from '../helpers/dispatcher-harness.js'

/** A rejection as a plugin that bundles its own copy of the SDK throws it: another class, same fields. */
function foreignRejection(code: string, message: string): Error {
  class JobRejectedError extends Error {
    readonly code = code
    readonly kind = 'job_rejected'
    readonly retryable = false
  }
  return new JobRejectedError(message)
}

describe('plugin-api errors: recognised by their fields, never by instanceof', () => {
  it("isJobRejected holds for our rejections and for another copy's; not for other errors", () => {
    expect(isJobRejected(new JobRejectedError('unknown_flavor', 'no'))).toBe(true)
    expect(isJobRejected(foreignRejection('unknown_flavor', 'no'))).toBe(true)
    expect(isJobRejected(new PaasRunnerError('unknown_flavor', 'transient'))).toBe(false)
    expect(isJobRejected(new Error('plain'))).toBe(false)
    expect(isJobRejected({kind: 'job_rejected'})).toBe(false) // no code, no message: not an error of ours
    expect(isJobRejected(null)).toBe(false)
    expect(hasCode(foreignRejection('name_taken', 'x'), 'name_taken')).toBe(true)
  })

  const harnesses: Harness[] = []
  afterEach(() => {
    for (const h of harnesses.splice(0)) {
      h.dispatcher.shutdown('test end').catch(() => {})
      h.dispose()
    }
    vi.restoreAllMocks()
  })

  it("the dispatcher fails a job a plugin's own SDK copy rejects, and provisions nothing for it", async () => {
    const h = await new Harness().start()
    harnesses.push(h)
    vi.spyOn(MemoryExecutor.prototype, 'selectFlavor').mockImplementation(() => {
      throw foreignRejection('unknown_flavor', "Selected flavor 'HUGE' is not available")
    })
    const job = h.gitlab.enqueue()
    await h.clock.runUntil(() => job.status === 'failed', 600_000, 'the job failed')
    // Recognised as a rejection: the reason as the plugin wrote it, not "could not create the PAAS resource: …".
    expect(job.log).toBe("\u001b[31mheptapod-paas-runner: Selected flavor 'HUGE' is not available\u001b[0m\n")
    expect(h.cloud.createdCount).toBe(0)
    expect(h.logs.filter((l) => l.msg.startsWith('cannot weigh the job'))).toEqual([])
  })
})

describe('plugin-api names', () => {
  it('dns1123Label: lower case, no `_` or `.`, alphanumeric at both ends, at most 63 characters', () => {
    expect(dns1123ResourceName('AbC_dEf12', 42)).toBe('hpd-job-abc-def12-42')
    expect(dns1123Label('_x_')).toBe('x')
    expect(dns1123Label('a.b')).toBe('a-b')
    const long = dns1123Label(`hpd-job-${'x'.repeat(80)}`)
    expect(long.length).toBe(63)
    for (const n of ['hpd-job-abc-def12-42', 'x', 'a-b', long]) expect(isDns1123Label(n)).toBe(true)
    for (const n of ['A', 'a_b', '-a', 'a-', 'x'.repeat(64), '']) expect(isDns1123Label(n)).toBe(false)
    expect(() => dns1123Label('___')).toThrow(RangeError)
  })

  it('dockerName: lower case, [a-z0-9_.-], starting with an alphanumeric', () => {
    expect(dockerName('hpd-job-AbC_dEf12-42')).toBe('hpd-job-abc_def12-42')
    expect(dockerName('-x y')).toBe('x-y')
    // Image repositories allow one '.', one '_', '__' or any '-' between alphanumerics (a real engine refused this one).
    expect(dockerName('hpd-job-mrbiok_---1003')).toBe('hpd-job-mrbiok-1003')
    expect(dockerName('a__b.c---d_')).toBe('a__b.c---d')
    expect(dockerName('a._b')).toBe('a-b')
  })
})

describe('plugin-api build context', () => {
  const runner: RunnerConfig = {
    index: 0,
    url: 'https://gitlab.example',
    token: 'glrt-secret-runner-token',
    executor: 'x',
    uniqueName: 'secret-ru',
    executorConfig: {x_api_token: 'paas-secret'},
    forwarded: {name: 'r', cc_token: 'cc-secret', paas_x: 'p', job_trace_watch: 'w', limit: 2},
  }

  it('runner.toml holds the forwarded keys only (no PAAS key, no executor key); labels go right after FROM', () => {
    const files = buildContextFiles(runner, {id: 7, token: 'job-token'}, {labels: {'org.example.owner': 'me'}})
    expect(files['runner.toml']).toContain('executor = "docker"')
    expect(files['runner.toml']).toContain('limit = 2')
    for (const secret of ['cc-secret', 'paas-secret', 'glrt-secret-runner-token', 'job_trace_watch', 'paas_x'])
      expect(files['runner.toml']).not.toContain(secret)
    expect(files.Dockerfile.split('\n').slice(0, 2)).toEqual([
      expect.stringMatching(/^FROM /),
      'LABEL "org.example.owner"="me"',
    ])
    expect(JSON.parse(files['job.json'])).toEqual({id: 7, token: 'job-token'})
  })
})

import {describe, expect, it} from 'vitest'

import {FORGET_RETIRED_AFTER_MS, REDACTED, Redactor} from '../../src/core/redact.js'
import {SecretMatcher} from '../../src/core/secret-matcher.js'
import {Harness} from '../helpers/dispatcher-harness.js'

/** Issue 12, item 9: redaction costs what the text costs, not what the daemon has seen; tokens of jobs long gone are forgotten. */

const token = (i: number): string =>
  `glcbt-64_${i.toString(36).padStart(8, '0')}x${(i * 7919).toString(16).padStart(8, '0')}`

describe('the redactor at scale', () => {
  it('20,000 job tokens, each followed by a log line: no rebuild per token, no slowdown per token', () => {
    const r = new Redactor()
    const t0 = performance.now()
    for (let i = 0; i < 20_000; i++) {
      r.add(token(i))
      expect(r.redact(`job ${i} uses ${token(i)} and ${token(i >> 1)}`)).toBe(
        `job ${i} uses ${REDACTED} and ${REDACTED}`,
      )
    }
    // The regex version rebuilt one alternation of every token per new token: minutes here.
    expect(performance.now() - t0).toBeLessThan(15_000)
    expect(r.size).toBe(20_000)
  })

  it('finds secrets anywhere, whatever they hold, and merges overlapping ones', () => {
    const m = new SecretMatcher()
    for (const s of ['abc/def+ghi', 'xyzxyz', 'zxyzxyzq', 'ünïcødé-secret', 'a b c d e f']) m.add(s)
    expect(m.find('__abc/def+ghi__')).toEqual([[2, 13]])
    expect(m.find('xyzxyzxyzq')).toEqual([[0, 10]])
    expect(m.find('say ünïcødé-secret!')).toEqual([[4, 18]])
    expect(m.find('a b c d e f')).toEqual([[0, 11]])
    expect(m.find('nothing here')).toEqual([])
    m.delete('xyzxyz')
    expect(m.find('xyzxyz')).toEqual([])
    expect(m.size).toBe(4)
  })

  it('forgets a retired secret after a while, not before; adding it again cancels that', () => {
    let now = 0
    const r = new Redactor({now: () => now})
    r.add('glcbt-old-job-token/1')
    r.add('glcbt-live-job-token')
    r.retire('glcbt-old-job-token/1')
    r.retire('glcbt-live-job-token')
    r.add('glcbt-live-job-token')
    now += FORGET_RETIRED_AFTER_MS - 1
    expect(r.redact('glcbt-old-job-token/1')).toBe(REDACTED)
    now += 1
    expect(r.redact('glcbt-old-job-token/1 glcbt-old-job-token%2F1 glcbt-live-job-token')).toBe(
      `glcbt-old-job-token/1 glcbt-old-job-token%2F1 ${REDACTED}`,
    )
    expect(r.size).toBe(1)
  })
})

describe('the dispatcher retires the token of a job it is done with', () => {
  it('once its record is gone', async () => {
    const h = new Harness()
    const retired: string[] = []
    await h.start()
    ;(h.dispatcher as unknown as {ctx: {deps: {retireSecret(s: string): void}}}).ctx.deps.retireSecret = (s) =>
      retired.push(s)
    const job = h.gitlab.enqueue({flavor: 'HUGE'})
    await h.clock.runUntil(
      () => h.store.records.size === 0 && job.status === 'failed',
      600_000,
      'job failed and forgotten',
    )
    expect(retired).toEqual([job.token])
    h.dispatcher.shutdown('test end').catch(() => {})
    h.dispose()
  })
})

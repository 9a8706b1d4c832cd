import {afterEach, describe, expect, it} from 'vitest'

import type {JobRecord} from '../../src/core/state/job-record.js'
import {Harness} from '../helpers/dispatcher-harness.js'

/** Issue 12, item 8: a record the pipeline cannot handle never makes it spin; shutdown always completes. */

const harnesses: Harness[] = []
afterEach(() => {
  for (const h of harnesses.splice(0)) {
    h.dispatcher.shutdown('test end').catch(() => {})
    h.dispose()
  }
})

describe('the job pipeline', () => {
  it('parks a record with an unknown phase with an error, instead of looping without yielding', async () => {
    const h = new Harness()
    harnesses.push(h)
    await h.start()
    const bogus = {
      runner: 'tok0abcd',
      jobId: 9,
      jobToken: 'glcbt-9-secret',
      phase: 'bogus',
      weight: 1,
      expectedWeight: 1,
      traceOffset: 0,
      acquiredAt: 0,
      phaseSince: 0,
    } as unknown as JobRecord
    h.store.records.set('tok0abcd/9', bogus)
    // A state record that got past the schema (a bug, an older loader): the pipeline is driven as at start.
    ;(h.dispatcher as unknown as {pipeline: {drive(r: JobRecord): void}}).pipeline.drive(bogus)
    await h.clock.runUntil(() => h.logs.some((l) => /unknown phase/.test(l.msg)), 60_000, 'the unknown phase reported')
    expect(h.logs.find((l) => /unknown phase/.test(l.msg))).toMatchObject({
      level: 'error',
      fields: {job: 9, phase: 'bogus'},
    })
    // Other jobs still run, and shutdown completes.
    const job = h.gitlab.enqueue({flavor: 'S'})
    await h.clock.runUntil(
      () => [...h.cloud.resources.values()].some((r) => r.jobId === job.id && r.launched),
      600_000,
      'another job launched',
    )
    await h.stop()
  })
})

import {afterEach, describe, expect, it} from 'vitest'

import {snapshotSchema, intakeStateSchema} from '../../src/core/status-schema.js'
import {Harness} from '../helpers/dispatcher-harness.js'

const harnesses: Harness[] = []
afterEach(async () => {
  for (const h of harnesses.splice(0)) {
    h.dispatcher.shutdown('test end').catch(() => {})
    h.dispose()
  }
})

describe('the snapshot schema: the one definition of the snapshot', () => {
  it("validates the dispatcher's own snapshot and keeps every field of it", async () => {
    const h = new Harness({})
    harnesses.push(h)
    await h.start()
    h.gitlab.enqueue({flavor: 'S'})
    await h.clock.runUntil(() => h.snapshot().jobs[0]?.phase === 'running')
    const snap = h.snapshot()
    // Round trip through JSON, as `status` reads it: nothing lost, nothing stripped.
    expect(snapshotSchema.parse(JSON.parse(JSON.stringify(snap)))).toEqual(snap)
  })

  it('a paused intake carries its blocker as data, with its figures; an unknown kind or phase is refused', () => {
    const paused = {
      state: 'paused',
      reason: 'quota 30/32 used',
      blocker: {kind: 'quota', used: 30, total: 32, needs: 5.7},
    }
    expect(intakeStateSchema.parse(paused)).toEqual(paused)
    expect(intakeStateSchema.safeParse({...paused, blocker: {kind: 'mood'}}).success).toBe(false)
    expect(intakeStateSchema.safeParse({...paused, blocker: {kind: 'quota', used: 30}}).success).toBe(false)
    const job = {
      runner: 'r',
      runnerName: null,
      jobId: 1,
      projectId: null,
      projectName: null,
      phase: 'flying',
      flavor: null,
      weight: 1,
      acquiredAt: 0,
      phaseSince: 0,
      resourceId: null,
      deleteAttempts: 0,
      failure: null,
    }
    expect(snapshotSchema.shape.jobs.element.safeParse(job).success).toBe(false)
    expect(snapshotSchema.shape.jobs.element.safeParse({...job, phase: 'running'}).success).toBe(true)
  })
})

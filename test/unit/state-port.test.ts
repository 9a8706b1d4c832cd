import {afterEach, describe, expect, it} from 'vitest'

import {PgStateStore} from '../../src/adapters/state/pg/pg-state-store.js'
import type {JobRecord} from '../../src/core/state/job-record.js'
import type {JobStatePort} from '../../src/core/state/state-port.js'
import {StateStore} from '../../src/core/state/state-store.js'
import {MemoryStateFile} from '../helpers/memory-state-file.js'
import {dropSchemas, NO_DATABASE, TEST_DATABASE_URL, testSchema} from '../helpers/postgres.js'

const now = () => 1_000
const RUNNER = 'tok0abcd'
const rec = (jobId: number, phase: JobRecord['phase'] = 'running'): JobRecord => ({
  runner: RUNNER,
  jobId,
  jobToken: `glcbt-${jobId}`,
  phase,
  weight: 5.657,
  expectedWeight: 5.657,
  traceOffset: 0,
  acquiredAt: 1,
  phaseSince: 1,
})
const payload = (id: number) =>
  ({
    id,
    token: `glcbt-${id}`,
    job_info: {project_id: 42},
    variables: [{key: 'SECRET_VAR', value: 'hush', public: false}],
  }) as never

/** A store, and what a restart (crash or not) opens from the same storage. */
interface Harness {
  open(): Promise<JobStatePort>
  reopen(): Promise<JobStatePort>
}

const schemas: string[] = []
afterEach(() => dropSchemas(schemas))

function fileHarness(): Harness {
  let f = new MemoryStateFile()
  return {
    open: async () => (await StateStore.open(f, {now})).store,
    // What a kill -9 leaves: only what was synced.
    reopen: async () => {
      f = new MemoryStateFile(f.durable)
      return (await StateStore.open(f, {now})).store
    },
  }
}

function pgHarness(): Harness {
  const schema = testSchema()
  schemas.push(schema)
  const opts = {url: TEST_DATABASE_URL, schema, runnerTokens: new Map([[RUNNER, 'tok0abcdefghijklmnop']]), now}
  const open = async () => (await PgStateStore.open(opts)).store
  return {open, reopen: open}
}

const stores: Array<[string, () => Harness, string | undefined]> = [
  ['the file journal', fileHarness, undefined],
  ['PostgreSQL', pgHarness, NO_DATABASE],
]

for (const [name, harness, skip] of stores) {
  describe.skipIf(skip !== undefined)(`the state port on ${name}${skip ? ` (skipped: ${skip})` : ''}`, () => {
    it('replays puts, transitions and deletes after a restart', async () => {
      const h = harness()
      const store = await h.open()
      await store.put(rec(1))
      await store.put(rec(2, 'provisioning'))
      await store.transition(rec(2, 'provisioning'), 'provisioned', {resourceId: 'app_2'})
      await store.delete(RUNNER, 1)
      await store.setSystemId('r_0123456789ab')
      await store.close()
      const again = await h.reopen()
      expect([...again.records.keys()]).toEqual([`${RUNNER}/2`])
      expect(again.records.get(`${RUNNER}/2`)).toMatchObject({
        phase: 'provisioned',
        resourceId: 'app_2',
        phaseSince: 1_000,
        jobToken: 'glcbt-2',
      })
      expect(again.systemId).toBe('r_0123456789ab')
      await again.close()
    })

    it('keeps a payload across changes until a change drops it', async () => {
      const h = harness()
      const store = await h.open()
      const p = payload(3)
      let r: JobRecord = {...rec(3, 'acquired'), payload: p}
      await store.put(r)
      r = await store.transition(r, 'provisioning')
      await store.transition(r, 'provisioned', {resourceId: 'app_3'})
      await store.close()
      const again = await h.reopen()
      expect(again.records.get(`${RUNNER}/3`)).toMatchObject({
        phase: 'provisioned',
        payload: {id: 3, variables: [{key: 'SECRET_VAR', value: 'hush'}]},
      })
      const launched = {...again.records.get(`${RUNNER}/3`)!}
      delete launched.payload
      await again.transition(launched, 'launched')
      await again.close()
      const third = await h.reopen()
      expect(third.records.get(`${RUNNER}/3`)!.payload).toBeUndefined()
      expect(third.records.get(`${RUNNER}/3`)!.phase).toBe('launched')
      await third.close()
    })

    it('keeps orphan marks and kept resources; an unmarked orphan is gone', async () => {
      const h = harness()
      const store = await h.open()
      await store.markOrphan({
        runner: RUNNER,
        resourceId: 'app_o1',
        name: 'o1',
        firstSeenAt: 5,
        resource: {id: 'app_o1'},
      })
      await store.markOrphan({
        runner: RUNNER,
        resourceId: 'app_o2',
        name: 'o2',
        jobId: 7,
        firstSeenAt: 6,
        resource: {id: 'app_o2'},
      })
      await store.unmarkOrphan(RUNNER, 'app_o1')
      await store.unmarkOrphan(RUNNER, 'app_never')
      await store.keep({runner: RUNNER, resourceId: 'app_k', name: 'k', jobId: 8, reason: 'kept', at: 9})
      await store.close()
      const again = await h.reopen()
      expect([...again.orphans.keys()]).toEqual([`${RUNNER}/app_o2`])
      expect(again.orphans.get(`${RUNNER}/app_o2`)).toMatchObject({jobId: 7, resource: {id: 'app_o2'}})
      expect(again.kept.get(`${RUNNER}/app_k`)).toMatchObject({jobId: 8, reason: 'kept'})
      await again.close()
    })

    it('applies concurrent changes of one record in the order they were asked', async () => {
      const h = harness()
      const store = await h.open()
      const phases: JobRecord['phase'][] = [
        'acquired',
        'provisioning',
        'provisioned',
        'launching',
        'launched',
        'running',
        'finished',
      ]
      await Promise.all(phases.map((phase, i) => store.put({...rec(4, phase), traceOffset: i})))
      await Promise.all(Array.from({length: 40}, (_, i) => store.put(rec(100 + i))))
      await store.close()
      const again = await h.reopen()
      expect(again.records.get(`${RUNNER}/4`)).toMatchObject({phase: 'finished', traceOffset: 6})
      expect(again.records.size).toBe(41)
      await again.close()
    })

    it('refuses changes once closed', async () => {
      const store = await harness().open()
      await store.close()
      await expect(store.put(rec(1))).rejects.toThrow('state store is closed')
    })
  })
}

import {spawnSync} from 'node:child_process'
import {hostname} from 'node:os'

import {afterEach, describe, expect, it} from 'vitest'

import {PgStateStore} from '../../src/adapters/state/pg/pg-state-store.js'
import {diffSettings} from '../../src/core/state/cluster-settings.js'
import type {ClusterLimits} from '../../src/core/state/cluster-port.js'
import type {JobRecord} from '../../src/core/state/job-record.js'
import {dropSchemas, NO_DATABASE, sql, TEST_DATABASE_URL, testSchema} from '../helpers/postgres.js'

const RUNNER = 'tok0abcd'
const TOKEN = 'tok0abcdefghijklmnop'
const SETTINGS = {
  runners: [{runner: RUNNER, url: 'http://gitlab.example'}],
  concurrent: 5,
  paas_max_concurrent_provisioning: 3,
}
const LIMITS: ClusterLimits = {
  quota: 10,
  concurrent: 5,
  maxProvisioning: 3,
  deleteHoldMs: 600_000,
  waitingFreshMs: 60_000,
}
const rec = (jobId: number, phase: JobRecord['phase'] = 'running', weight = 1): JobRecord => ({
  runner: RUNNER,
  jobId,
  jobToken: `glcbt-secret-${jobId}`,
  phase,
  weight,
  expectedWeight: weight,
  traceOffset: 0,
  acquiredAt: 1,
  phaseSince: 1,
})

const schemas: string[] = []
const open: PgStateStore[] = []
afterEach(async () => {
  for (const s of open.splice(0)) {
    await s.cluster?.close()
    await s.close()
  }
  await dropSchemas(schemas)
})

function newSchema(): string {
  const schema = testSchema()
  schemas.push(schema)
  return schema
}

async function member(
  schema: string,
  settings: Record<string, unknown> = SETTINGS,
  leaseMs = 30_000,
): Promise<PgStateStore> {
  const {store} = await PgStateStore.open({
    url: TEST_DATABASE_URL,
    schema,
    runnerTokens: new Map([[RUNNER, TOKEN]]),
    now: Date.now,
    member: {leaseMs, settings},
  })
  open.push(store)
  return store
}

/** Ends a daemon's lease in the database, as if it had not renewed it for a whole lease. */
async function expire(schema: string, store: PgStateStore): Promise<void> {
  await sql(`UPDATE "${schema}".daemons SET lease_until = clock_timestamp() - interval '1 second' WHERE id = $1`, [
    store.cluster!.daemonId,
  ])
}

describe.skipIf(NO_DATABASE !== undefined)(
  `the PostgreSQL cluster: leases, the shared ledger, adoption${NO_DATABASE ? ` (skipped: ${NO_DATABASE})` : ''}`,
  () => {
    it('the first daemon records the settings; one with other settings is refused with the differences, until no daemon is live', async () => {
      const schema = newSchema()
      const a = await member(schema)
      await member(schema) // same settings: joins
      const other = {...SETTINGS, concurrent: 7, runners: [{runner: 'zzz00000', url: 'http://other.example'}]}
      const err = await member(schema, other).catch((e: unknown) => e)
      expect(err).toMatchObject({code: 'cluster_settings_differ', key: 'state_url'})
      expect((err as Error).message).toMatch(/concurrent: this configuration has 7, the cluster 5/)
      expect((err as Error).message).toMatch(
        /the cluster has tok0abcd at http:\/\/gitlab.example, which this configuration does not/,
      )
      expect((err as Error).message).not.toContain(TOKEN)
      // Nobody joined: no row of the refused daemon.
      expect(await sql(`SELECT id FROM "${schema}".daemons`)).toHaveLength(2)
      for (const s of open) await s.cluster!.leave()
      void a
      await member(schema, other) // no live daemon: the new settings are the cluster's
      expect(
        (await sql<{settings: {concurrent: number}}>(`SELECT settings FROM "${schema}".cluster`))[0]!.settings
          .concurrent,
      ).toBe(7)
    })

    it('diffSettings names each key that differs', () => {
      expect(diffSettings({concurrent: 1, x: {a: 1}}, {concurrent: 1, x: {a: 2}})).toEqual([
        'x: this configuration has {"a":1}, the cluster {"a":2}',
      ])
    })

    it('the ledger never grants more than the limits across daemons, even when asked all at once', async () => {
      const schema = newSchema()
      const daemons = [await member(schema), await member(schema), await member(schema)]
      // 3 daemons × 4 runners asking at once, concurrent 5 (provisioning 3 is the tighter limit for reservations).
      const asks = daemons.flatMap((d) =>
        [0, 1, 2, 3].map((i) => d.cluster!.reserve(`r${i}`, 1, {...LIMITS, maxProvisioning: 10})),
      )
      const answers = await Promise.all(asks)
      expect(answers.filter((a) => a === undefined)).toHaveLength(5)
      expect(answers.filter((a) => a !== undefined).every((a) => a!.kind === 'concurrent')).toBe(true)
      expect(await sql(`SELECT * FROM "${schema}".reservations`)).toHaveLength(5)
    })

    it('tracked jobs and reservations count for weight, jobs and provisioning; a record takes over its reservation; release frees it', async () => {
      const schema = newSchema()
      const a = await member(schema)
      const b = await member(schema)
      await a.put(rec(1, 'running', 4))
      await a.put(rec(2, 'provisioning', 4))
      // Quota 10: 8 used, 3 more do not fit.
      expect(await b.cluster!.reserve(RUNNER, 3, LIMITS)).toEqual({kind: 'quota', used: 8, total: 10, needs: 3})
      expect(await b.cluster!.reserve(RUNNER, 2, LIMITS)).toBeUndefined()
      // Provisioning: job 2 and b's reservation; a third is refused.
      expect(await a.cluster!.reserve('r2', 0, {...LIMITS, maxProvisioning: 2})).toEqual({
        kind: 'provisioning',
        jobs: 2,
        limit: 2,
      })
      // The job that came for b's request: its record replaces the reservation in the same statement.
      await b.put(rec(3, 'acquired', 1))
      expect(await sql(`SELECT * FROM "${schema}".reservations`)).toHaveLength(0)
      expect(await a.cluster!.reserve('r2', 1, LIMITS)).toBeUndefined()
      await a.cluster!.release('r2')
      expect(await sql(`SELECT * FROM "${schema}".reservations`)).toHaveLength(0)
      // A later write of an `acquired` record (canceled) never consumes a new reservation of its runner.
      expect(await b.cluster!.reserve(RUNNER, 1, LIMITS)).toBeUndefined()
      await b.put({...rec(3, 'acquired', 1), canceled: true})
      expect(await sql(`SELECT * FROM "${schema}".reservations`)).toHaveLength(1)
      // Quota: 9 tracked + b's reservation of 1: full. A reservation of a daemon whose lease expired
      // holds nothing (its jobs still count: their resources exist until adopted and deleted).
      const roomy = {...LIMITS, maxProvisioning: 10}
      expect(await a.cluster!.reserve('r2', 1, roomy)).toMatchObject({kind: 'quota', used: 10})
      await expire(schema, b)
      expect(await a.cluster!.reserve('r2', 1, roomy)).toBeUndefined()
    })

    it('fair turns across daemons: a request refused before goes first while its daemon asks again; what is left beside it is granted', async () => {
      const schema = newSchema()
      const a = await member(schema)
      const b = await member(schema)
      const roomy = {...LIMITS, maxProvisioning: 10}
      expect(await a.cluster!.reserve('r0', 6, roomy)).toBeUndefined()
      // b must wait for the quota: it is now first in line.
      expect(await b.cluster!.reserve(RUNNER, 6, roomy)).toMatchObject({kind: 'quota', used: 6})
      // a's other runner fits the limits (6 + 3 of 10), but not beside b's 6: b goes first.
      expect(await a.cluster!.reserve('r1', 3, roomy)).toEqual({
        kind: 'turn',
        after: [`${RUNNER} on ${b.cluster!.daemonId}`],
      })
      await a.cluster!.release('r0')
      // 10 free: b's 6 and a's 3 both fit; a need not wait. But b waits: a is told (it holds no long poll).
      expect(await a.cluster!.reserve('r1', 3, roomy)).toBeUndefined()
      expect(a.cluster!.othersWaiting()).toBe(true)
      // a asks again for r0: 3 + 6 fit, but b waited longer and 6 more would not fit beside it.
      expect(await a.cluster!.reserve('r0', 6, roomy)).toMatchObject({kind: 'turn'})
      // b's turn; once granted, its place in line ends.
      expect(await b.cluster!.reserve(RUNNER, 6, roomy)).toBeUndefined()
      expect(b.cluster!.othersWaiting()).toBe(true) // a's r0, refused just before
      await a.cluster!.release('r1')
      await sql(`DELETE FROM "${schema}".waiters`)
      expect(await a.cluster!.reserve('r1', 3, roomy)).toBeUndefined()
      expect(a.cluster!.othersWaiting()).toBe(false)
      await a.cluster!.release('r1')
      expect(
        await sql(`SELECT daemon, runner FROM "${schema}".waiters WHERE daemon = $1`, [b.cluster!.daemonId]),
      ).toEqual([])
      // A place in line lasts only while its daemon keeps asking: a stale one (or one of a daemon gone) holds nothing.
      await a.cluster!.release('r1')
      await b.cluster!.release(RUNNER)
      expect(await a.cluster!.reserve('r0', 6, roomy)).toBeUndefined()
      expect(await b.cluster!.reserve(RUNNER, 6, {...roomy, waitingFreshMs: 0})).toMatchObject({kind: 'quota'})
      expect(await a.cluster!.reserve('r1', 3, roomy)).toBeUndefined()
      await a.cluster!.release('r1')
      expect(await b.cluster!.reserve(RUNNER, 6, roomy)).toMatchObject({kind: 'quota'})
      await expire(schema, b)
      expect(await a.cluster!.reserve('r1', 3, roomy)).toBeUndefined()
      // A daemon of the previous version (reserve with 8 arguments), still running while a new one
      // migrated the schema, keeps being answered.
      const old = await sql<{r: unknown}>(`SELECT "${schema}".reserve($1, 'r9', 2, 10, 5, 10, 600000, $2) AS r`, [
        a.cluster!.daemonId,
        ['provisioning'],
      ])
      expect(old[0]!.r).toMatchObject({kind: 'quota'})
    })

    it('a daemon whose lease expired is fenced: it cannot renew, reserve, or change its jobs; another adopts them once, with their secrets', async () => {
      const schema = newSchema()
      const a = await member(schema)
      const b = await member(schema)
      const c = await member(schema)
      for (let i = 1; i <= 6; i++)
        await a.put({
          ...rec(i, i % 2 ? 'running' : 'provisioning'),
          payload: {id: i, token: `glcbt-secret-${i}`} as never,
        })
      expect(await a.cluster!.renew()).toBe('held')
      await expire(schema, a)
      expect(await a.cluster!.renew()).toBe('lost')
      expect(a.cluster!.leaseValid()).toBe(false)
      await expect(a.put(rec(1, 'finished'))).rejects.toMatchObject({code: 'state_fenced'})
      await expect(a.cluster!.reserve(RUNNER, 1, LIMITS)).rejects.toThrow(/lease has expired/)
      // Two live daemons adopt at once: every job goes to exactly one of them.
      const [tb, tc] = await Promise.all([b.cluster!.adopt(), c.cluster!.adopt()])
      expect(tb.errors).toEqual([])
      const ids = [...tb.records, ...tc.records].map((r) => r.jobId).sort()
      expect(ids).toEqual([1, 2, 3, 4, 5, 6])
      const adopted = [...tb.records, ...tc.records].find((r) => r.jobId === 2)!
      expect(adopted).toMatchObject({phase: 'provisioning', jobToken: 'glcbt-secret-2', payload: {id: 2}})
      expect((await sql(`SELECT * FROM "${schema}".adoptions`)).length).toBe(6)
      expect(await sql(`SELECT phase FROM "${schema}".jobs WHERE job_id = 1`)).toEqual([{phase: 'running'}])
      // The new holder drives them; the old one's delete is refused.
      const holder = tb.records.some((r) => r.jobId === 1) ? b : c
      await holder.put(rec(1, 'finished'))
      await expect(a.delete(RUNNER, 1)).rejects.toMatchObject({code: 'state_fenced'})
      expect(await sql(`SELECT phase FROM "${schema}".jobs WHERE job_id = 1`)).toEqual([{phase: 'finished'}])
      // Nothing more to adopt.
      expect((await b.cluster!.adopt()).records).toEqual([])
      // Even were the old owner's lease live again (a clock gone wrong), a job adopted is no longer its own.
      await sql(`UPDATE "${schema}".daemons SET lease_until = clock_timestamp() + interval '1 minute' WHERE id = $1`, [
        a.cluster!.daemonId,
      ])
      a.cluster!['validUntil'] = Date.now() + 60_000
      await expect(a.put(rec(1, 'decommissioning'))).rejects.toMatchObject({code: 'state_fenced'})
      expect(await sql(`SELECT phase FROM "${schema}".jobs WHERE job_id = 1`)).toEqual([{phase: 'finished'}])
    })

    it('a daemon of this host whose process is gone is not waited for: its jobs are adopted at join', async () => {
      const schema = newSchema()
      const a = await member(schema)
      await a.put(rec(7))
      // As if a had been killed: its row names a process that no longer exists, on this host.
      const deadPid = spawnSync(process.execPath, ['-e', '0']).pid!
      await sql(`UPDATE "${schema}".daemons SET pid = $1 WHERE id = $2`, [deadPid, a.cluster!.daemonId])
      const b = await member(schema)
      expect(b.records.has(`${RUNNER}/7`)).toBe(true)
      // A live neighbour keeps its lease (and its jobs).
      await b.put(rec(8))
      const c = await member(schema)
      expect(c.records.size).toBe(0)
      expect(await sql(`SELECT host FROM "${schema}".daemons WHERE id = $1`, [c.cluster!.daemonId])).toEqual([
        {host: hostname()},
      ])
    })

    it('a daemon that left hands its jobs over at once; one daemon sweeps orphans at a time', async () => {
      const schema = newSchema()
      const a = await member(schema)
      const b = await member(schema)
      await a.put(rec(1))
      expect(await a.cluster!.holdSweep()).toBe(true)
      expect(await b.cluster!.holdSweep()).toBe(false)
      expect(await a.cluster!.holdSweep()).toBe(true)
      await a.cluster!.leave()
      expect((await b.cluster!.adopt()).records.map((r) => r.jobId)).toEqual([1])
      expect(await b.cluster!.holdSweep()).toBe(true)
      // The sweeper knows every daemon's jobs and resources.
      await b.put({...rec(9), resourceId: 'app-9'})
      expect(await b.cluster!.known(RUNNER)).toEqual({jobIds: new Set([1, 9]), resourceIds: new Set(['app-9'])})
      // The sweeper keeps the role as long as its lease lives, however long a sweep lasts; then another takes it.
      const c = await member(schema)
      await sql(`UPDATE "${schema}".cluster SET sweeper_until = clock_timestamp() + interval '1 day'`)
      expect(await c.cluster!.holdSweep()).toBe(false)
      await expire(schema, b)
      expect(await c.cluster!.holdSweep()).toBe(true)
    })
  },
)

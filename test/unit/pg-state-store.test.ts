import {afterEach, describe, expect, it, vi} from 'vitest'

import {SCHEMA_VERSION} from '../../src/adapters/state/pg/pg-migrations.js'
import {PgStateStore} from '../../src/adapters/state/pg/pg-state-store.js'
import type {JobRecord} from '../../src/core/state/job-record.js'
import {dropSchemas, NO_DATABASE, sql, TEST_DATABASE_URL, testSchema} from '../helpers/postgres.js'

const now = () => 1_000
const RUNNER = 'tok0abcd'
const TOKEN = 'tok0abcdefghijklmnop'
const rec = (jobId: number, phase: JobRecord['phase'] = 'running'): JobRecord => ({
  runner: RUNNER,
  jobId,
  jobToken: `glcbt-secret-${jobId}`,
  phase,
  weight: 5.657,
  expectedWeight: 5.657,
  traceOffset: 0,
  acquiredAt: 1,
  phaseSince: 1,
})

const schemas: string[] = []
afterEach(() => dropSchemas(schemas))

function options(tokens: Array<[string, string]> = [[RUNNER, TOKEN]]) {
  const schema = testSchema()
  schemas.push(schema)
  return {url: TEST_DATABASE_URL, schema, runnerTokens: new Map(tokens), now}
}

describe.skipIf(NO_DATABASE !== undefined)(
  `the PostgreSQL state store${NO_DATABASE ? ` (skipped: ${NO_DATABASE})` : ''}`,
  () => {
    it('creates its schema at the latest version, once; a fresh schema says so', async () => {
      const o = options()
      const {store, report} = await PgStateStore.open(o)
      expect(report.fresh).toBe(true)
      await store.close()
      const {store: again, report: second} = await PgStateStore.open(o)
      expect(second.fresh).toBe(false)
      await again.close()
      const versions = await sql<{version: number}>(`SELECT version FROM "${o.schema}".migrations ORDER BY version`)
      expect(versions.map((v) => v.version)).toEqual(Array.from({length: SCHEMA_VERSION}, (_, i) => i + 1))
    })

    it('refuses a schema migrated by a newer daemon, and changes nothing in it', async () => {
      const o = options()
      const {store} = await PgStateStore.open(o)
      await store.put(rec(1))
      await store.close()
      await sql(`INSERT INTO "${o.schema}".migrations (version, name) VALUES ($1, 'from the future')`, [
        SCHEMA_VERSION + 1,
      ])
      const err = await PgStateStore.open(o).catch((e: unknown) => e)
      expect(err).toMatchObject({code: 'state_schema_newer', key: 'state_url'})
      expect((err as Error).message).toMatch(
        new RegExp(`version ${SCHEMA_VERSION + 1}, newer than this heptapod-paas-runner knows \\(${SCHEMA_VERSION}\\)`),
      )
      await expect(PgStateStore.inspect(o)).rejects.toMatchObject({code: 'state_schema_newer'})
      expect(await sql(`SELECT job_id FROM "${o.schema}".jobs`)).toHaveLength(1)
    })

    it('stores job tokens and payloads sealed: the database alone does not give them away', async () => {
      const o = options()
      const {store} = await PgStateStore.open(o)
      await store.put({
        ...rec(1, 'acquired'),
        payload: {
          id: 1,
          token: 'glcbt-secret-1',
          variables: [{key: 'DEPLOY_KEY', value: 'very-private-value', public: false}],
        } as never,
      })
      await store.close()
      const dump =
        JSON.stringify(
          await sql(
            `SELECT record, encode(token, 'escape') AS t, encode(payload, 'escape') AS p FROM "${o.schema}".jobs`,
          ),
        ) + JSON.stringify(await sql(`SELECT * FROM "${o.schema}".meta`))
      expect(dump).toContain('"jobId":1')
      expect(dump).not.toContain('glcbt-secret-1')
      expect(dump).not.toContain('very-private-value')
      expect(dump).not.toContain(TOKEN)
    })

    it('a record sealed with another runner token, or whose sealed token was moved from another row, is an error of that record only', async () => {
      const o = options()
      const {store} = await PgStateStore.open(o)
      await store.put(rec(1))
      await store.put(rec(2))
      await store.put(rec(3))
      await store.close()
      // Tampering: row 2 gets the sealed token of row 1.
      await sql(
        `UPDATE "${o.schema}".jobs SET token = (SELECT token FROM "${o.schema}".jobs WHERE job_id = 1) WHERE job_id = 2`,
      )
      const {store: again, report} = await PgStateStore.open(o)
      expect([...again.records.keys()].sort()).toEqual([`${RUNNER}/1`, `${RUNNER}/3`])
      expect(again.records.get(`${RUNNER}/1`)!.jobToken).toBe('glcbt-secret-1')
      expect(report.errors).toEqual([
        expect.stringMatching(/the record of job 2 \(runner tok0abcd\): cannot decrypt.*kept in the database/),
      ])
      await again.close()
      // The runner was re-registered: a new token opens nothing of the old one's.
      const {store: rotated, report: r2} = await PgStateStore.open({
        ...o,
        runnerTokens: new Map([[RUNNER, 'tok0abcdNEWTOKEN']]),
      })
      expect(rotated.records.size).toBe(0)
      expect(r2.errors).toHaveLength(3)
      await rotated.close()
      expect(await sql(`SELECT job_id FROM "${o.schema}".jobs`)).toHaveLength(3)
    })

    it('an invalid row is an error of that record, kept in the database; the others load', async () => {
      const o = options()
      const {store} = await PgStateStore.open(o)
      await store.put(rec(1))
      await store.put(rec(2))
      await store.close()
      await sql(`UPDATE "${o.schema}".jobs SET record = jsonb_set(record, '{weight}', '"heavy"') WHERE job_id = 2`)
      const {store: again, report} = await PgStateStore.open(o)
      expect([...again.records.keys()]).toEqual([`${RUNNER}/1`])
      expect(report.errors).toEqual([
        expect.stringMatching(
          /the record of job 2 \(runner tok0abcd\) is not valid \(weight: .*\); it is kept in the database/,
        ),
      ])
      await again.close()
    })

    it('status reads without joining, and opens no secret; a store reopened sees what was committed', async () => {
      const o = options()
      const {store} = await PgStateStore.open(o)
      await store.put(rec(5))
      const view = await PgStateStore.inspect(o)
      expect(view.records.get(`${RUNNER}/5`)).toMatchObject({phase: 'running', jobToken: '<sealed>'})
      await store.close()
      const {store: second} = await PgStateStore.open(o)
      expect(second.records.has(`${RUNNER}/5`)).toBe(true)
      await second.close()
    })

    it('a lost connection is reopened at the next change', async () => {
      const o = options()
      const lost: Error[] = []
      const {store} = await PgStateStore.open({...o, onConnectionError: (e) => lost.push(e)})
      await store.put(rec(1))
      await sql(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'heptapod-paas-runner' AND query LIKE '%${o.schema}%'`,
      )
      await vi.waitFor(() => expect(lost).toHaveLength(1))
      await store.put(rec(2))
      await store.put(rec(3))
      await store.close()
      const {store: again} = await PgStateStore.open(o)
      expect([...again.records.keys()].sort()).toEqual([`${RUNNER}/1`, `${RUNNER}/2`, `${RUNNER}/3`])
      await again.close()
    })

    it('an absent schema reads as empty for status, and is not created by it', async () => {
      const o = options()
      const view = await PgStateStore.inspect(o)
      expect(view.records.size).toBe(0)
      expect(await sql(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [o.schema])).toHaveLength(0)
    })
  },
)

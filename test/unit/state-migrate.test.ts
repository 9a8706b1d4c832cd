import {existsSync, mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {FsStateFile} from '../../src/adapters/state/fs-state-file.js'
import {PgStateStore} from '../../src/adapters/state/pg/pg-state-store.js'
import {lockStateFile} from '../../src/adapters/state/state-file-lock.js'
import {migrateStateFile} from '../../src/cli/state-migrate.js'
import {parseConfig} from '../../src/core/config/parse-config.js'
import {Redactor} from '../../src/core/redact.js'
import {StateStore} from '../../src/core/state/state-store.js'
import {BASE, TOKEN} from '../helpers/bad-configs.js'
import {testExecutors} from '../helpers/executors.js'
import {dropSchemas, NO_DATABASE, sql, TEST_DATABASE_URL, testSchema} from '../helpers/postgres.js'

const schemas: string[] = []
afterEach(() => dropSchemas(schemas))

async function fixture() {
  const dir = mkdtempSync(join(tmpdir(), 'hpr-migrate-'))
  const stateFile = join(dir, 'state.json')
  const config = parseConfig(BASE.replace('/tmp/state.json', stateFile), {
    file: join(dir, 'c.toml'),
    executors: testExecutors,
    defaultStateFile: stateFile,
  })
  const runner = config.runners[0]!.uniqueName
  const {store} = await StateStore.open(new FsStateFile(stateFile), {now: Date.now})
  await store.setSystemId('r_migratemigra')
  await store.put({
    runner,
    jobId: 1,
    jobToken: 'glcbt-one',
    phase: 'running',
    weight: 1,
    expectedWeight: 1,
    traceOffset: 0,
    acquiredAt: 1,
    phaseSince: 1,
    resourceId: 'app_1',
  })
  await store.put({
    runner,
    jobId: 2,
    jobToken: 'glcbt-two',
    phase: 'acquired',
    weight: 1,
    expectedWeight: 1,
    traceOffset: 0,
    acquiredAt: 1,
    phaseSince: 1,
    payload: {id: 2, token: 'glcbt-two', variables: []} as never,
  })
  await store.markOrphan({runner, resourceId: 'app_o', name: 'o', firstSeenAt: 1, resource: {id: 'app_o'}})
  await store.close()
  const schema = testSchema()
  schemas.push(schema)
  return {stateFile, schema, runner, loaded: {config, discovery: {} as never, redactor: new Redactor()}}
}

describe.skipIf(NO_DATABASE !== undefined)(
  `state migrate: a file journal into PostgreSQL${NO_DATABASE ? ` (skipped: ${NO_DATABASE})` : ''}`,
  () => {
    it('copies every record, mark and the system id, then moves the file aside', async () => {
      const f = await fixture()
      const result = await migrateStateFile(f.loaded, TEST_DATABASE_URL, f.schema)
      expect(result).toMatchObject({jobs: 2, orphans: 1, kept: 0, movedTo: `${f.stateFile}.migrated`})
      expect(existsSync(f.stateFile)).toBe(false)
      expect(existsSync(`${f.stateFile}.migrated`)).toBe(true)
      const {store} = await PgStateStore.open({
        url: TEST_DATABASE_URL,
        schema: f.schema,
        runnerTokens: new Map([[f.runner, TOKEN]]),
        now: Date.now,
      })
      expect(store.systemId).toBe('r_migratemigra')
      expect(store.records.get(`${f.runner}/1`)).toMatchObject({
        phase: 'running',
        jobToken: 'glcbt-one',
        resourceId: 'app_1',
      })
      expect(store.records.get(`${f.runner}/2`)).toMatchObject({phase: 'acquired', payload: {id: 2}})
      expect(store.orphans.size).toBe(1)
      await store.close()
    })

    it('is refused while a daemon holds the state file, and writes nothing', async () => {
      const f = await fixture()
      const lock = await lockStateFile(f.stateFile)
      try {
        await expect(migrateStateFile(f.loaded, TEST_DATABASE_URL, f.schema)).rejects.toMatchObject({
          code: 'state_locked',
        })
      } finally {
        await lock.release()
      }
      expect(existsSync(f.stateFile)).toBe(true)
      expect(await sql(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [f.schema])).toHaveLength(0)
    })

    it('is refused when the schema already holds state; the file stays', async () => {
      const f = await fixture()
      await migrateStateFile(f.loaded, TEST_DATABASE_URL, f.schema)
      const g = await fixture()
      schemas.pop()
      await expect(migrateStateFile(g.loaded, TEST_DATABASE_URL, f.schema)).rejects.toMatchObject({
        code: 'state_target_not_empty',
      })
      expect(existsSync(g.stateFile)).toBe(true)
    })
  },
)

import {randomBytes} from 'node:crypto'

import pg from 'pg'

/** The PostgreSQL the tests use: `HPR_TEST_DATABASE_URL`, by default the machine's server (trust, db `test`). */
export const TEST_DATABASE_URL = process.env.HPR_TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test'

/** Why no test database answers, or undefined when one does (asked once, bounded). */
async function probe(): Promise<string | undefined> {
  const c = new pg.Client({connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 3000})
  c.on('error', () => {})
  try {
    await c.connect()
    await c.query('SELECT 1')
    return undefined
  } catch (error) {
    return `no PostgreSQL answers at ${TEST_DATABASE_URL} (${(error as Error).message}); set HPR_TEST_DATABASE_URL`
  } finally {
    await c.end().catch(() => {})
  }
}

export const NO_DATABASE: string | undefined = await probe()

/** A fresh schema name, unique to this test. */
export function testSchema(): string {
  return `hpr_test_${randomBytes(6).toString('hex')}`
}

/** Runs SQL on the test database (setup, checks and tampering by the tests). */
export async function sql<T extends pg.QueryResultRow = pg.QueryResultRow>(
  text: string,
  values: unknown[] = [],
): Promise<T[]> {
  const c = new pg.Client({connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 5000})
  c.on('error', () => {})
  await c.connect()
  try {
    return (await c.query<T>(text, values)).rows
  } finally {
    await c.end().catch(() => {})
  }
}

/** Drops the schemas a test made. */
export async function dropSchemas(schemas: string[]): Promise<void> {
  for (const s of schemas.splice(0)) await sql(`DROP SCHEMA IF EXISTS "${s}" CASCADE`)
}

/** A connection for a test that queries often (end it in afterAll). */
export async function testClient(): Promise<pg.Client> {
  const c = new pg.Client({connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 5000})
  c.on('error', () => {})
  await c.connect()
  return c
}

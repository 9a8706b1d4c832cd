import type pg from 'pg'

import {StartupError} from '../../../core/errors.js'

/**
 * The schema's versions, in order. A migration is never edited once released: a change is a
 * new one. Each runs in the transaction that records it, so a crash leaves the schema at a
 * version, never between two.
 */
export const MIGRATIONS: ReadonlyArray<{version: number; name: string; sql: string}> = [
  {
    version: 1,
    name: 'job records, orphan marks, kept resources',
    sql: `
      CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);
      -- record: the job record without its secrets; token and payload: sealed (AES-256-GCM, key from the runner token).
      CREATE TABLE jobs (
        runner text NOT NULL,
        job_id bigint NOT NULL,
        phase text NOT NULL,
        record jsonb NOT NULL,
        token bytea NOT NULL,
        payload bytea,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (runner, job_id)
      );
      CREATE TABLE orphans (runner text NOT NULL, resource_id text NOT NULL, mark jsonb NOT NULL, PRIMARY KEY (runner, resource_id));
      CREATE TABLE kept (runner text NOT NULL, resource_id text NOT NULL, kept jsonb NOT NULL, PRIMARY KEY (runner, resource_id));
    `,
  },
]

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version

/** The database was migrated by a newer heptapod-paas-runner: this one must not touch it. */
export class StateSchemaTooNewError extends StartupError {
  constructor(schema: string, found: number) {
    super(
      'state_schema_newer',
      `schema ${schema} of the database is at version ${found}, newer than this heptapod-paas-runner knows (${SCHEMA_VERSION}): ` +
        'upgrade this daemon (every daemon of a cluster runs the same version), or give it another state_schema',
      {path: 'state_url'},
    )
  }
}

/** `"name"`, for a name the config schema already restricted to `[a-z_][a-z0-9_]*`. */
export function ident(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`not a plain SQL identifier: ${name}`)
  return `"${name}"`
}

/** The version the schema is at: 0 when it has no migrations table (absent or empty schema). */
export async function schemaVersion(client: pg.ClientBase, schema: string): Promise<number> {
  const t = await client.query<{exists: boolean}>(`SELECT to_regclass($1) IS NOT NULL AS exists`, [
    `${ident(schema)}.migrations`,
  ])
  if (!t.rows[0]!.exists) return 0
  const v = await client.query<{v: number | null}>(`SELECT max(version) AS v FROM ${ident(schema)}.migrations`)
  return v.rows[0]!.v ?? 0
}

/**
 * Brings the schema to SCHEMA_VERSION, creating it when absent. Daemons starting at once
 * serialise on a transaction-scoped advisory lock; each migration is applied once.
 * Throws StateSchemaTooNewError, and changes nothing, when the schema is newer.
 * Returns the version found before.
 */
export async function migrate(client: pg.ClientBase, schema: string): Promise<number> {
  const s = ident(schema)
  await client.query('BEGIN')
  try {
    await client.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`heptapod-paas-runner migrate ${schema}`])
    const found = await schemaVersion(client, schema)
    if (found > SCHEMA_VERSION) throw new StateSchemaTooNewError(schema, found)
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`)
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${s}.migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    )
    await client.query(`SET LOCAL search_path TO ${s}`)
    for (const m of MIGRATIONS) {
      if (m.version <= found) continue
      await client.query(m.sql)
      await client.query(`INSERT INTO ${s}.migrations (version, name) VALUES ($1, $2)`, [m.version, m.name])
    }
    await client.query('COMMIT')
    return found
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {})
    throw error
  }
}

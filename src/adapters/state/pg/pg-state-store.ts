import {randomBytes} from 'node:crypto'

import type pg from 'pg'

import {PaasRunnerError, StartupError} from '../../../core/errors.js'
import type {JobPayload} from '../../../core/job-payload.js'
import {JobSecretCipher, SecretUnsealError} from '../../../core/state/job-secret-cipher.js'
import {
  recordKey,
  type JobPhase,
  type JobRecord,
  type KeptResource,
  type OrphanMark,
} from '../../../core/state/job-record.js'
import {
  describeEntryIssues,
  jobRecordSchema,
  keptResourceSchema,
  orphanMarkSchema,
} from '../../../core/state/state-entry-schema.js'
import type {JobStatePort, JobStateView, LoadReport} from '../../../core/state/state-port.js'
import {connect, describeUrl} from './pg-connection.js'
import {ident, migrate, schemaVersion, SCHEMA_VERSION, StateSchemaTooNewError} from './pg-migrations.js'

export interface PgStateOptions {
  /** `state_url`. */
  url: string
  /** `state_schema`. */
  schema: string
  /** Runner unique name → runner token: the keys of the sealed job secrets. */
  runnerTokens: ReadonlyMap<string, string>
  now: () => number
  /** A connection lost while running (it is reopened at the next change). */
  onConnectionError?: (error: Error) => void
}

/** The database cannot take this change now (connection lost and not regained, lock lost). */
export class StateUnavailableError extends PaasRunnerError {
  constructor(message: string, cause?: unknown) {
    super('state_unavailable', message, {retryable: true, ...(cause === undefined ? {} : {cause})})
  }
}

/**
 * The PostgreSQL state store: the same records as the file journal, in tables of the schema
 * `state_schema`, which the daemon creates and migrates. Every change is one statement on one
 * connection, so changes commit in the order they were asked, each durable (committed) before
 * it resolves. Job tokens and payloads are sealed (JobSecretCipher) with the runner's token.
 *
 * Until daemons share a schema as a cluster (leases, shared admission), one daemon holds a
 * schema: a session advisory lock taken at open, released by the server when the connection
 * closes (also when the daemon is killed). A second daemon is refused at start.
 */
export class PgStateStore implements JobStatePort {
  readonly records = new Map<string, JobRecord>()
  readonly orphans = new Map<string, OrphanMark>()
  readonly kept = new Map<string, KeptResource>()
  systemId: string | undefined
  readonly path: string
  /** Latency of the last commits (ms), for the benchmark. */
  readonly commitLatencies: number[] = []
  /** Payload last stored per record key: a payload is sealed and written once, not with every change. */
  private readonly payloads = new Map<string, JobPayload>()
  private readonly sealedTokens = new Map<string, {token: string; sealed: Buffer}>()
  private readonly pending = new Set<Promise<void>>()
  private client: pg.Client | undefined
  private reconnecting: Promise<pg.Client> | undefined
  private closed = false
  private readonly sql: ReturnType<typeof statements>

  private constructor(
    private readonly opts: PgStateOptions,
    private readonly cipher: JobSecretCipher,
    client: pg.Client,
  ) {
    this.path = `${describeUrl(opts.url)} (schema ${opts.schema})`
    this.sql = statements(opts.schema)
    this.adopt(client)
  }

  /**
   * Connects, migrates the schema (creating it), takes the daemon lock and loads everything.
   * Throws StateSchemaTooNewError or StartupError `state_locked` (exit 2), or the connection's error.
   */
  static async open(opts: PgStateOptions): Promise<{store: PgStateStore; report: LoadReport}> {
    const client = await connect(opts.url)
    try {
      const before = await migrate(client, opts.schema)
      await lockSchema(client, opts.schema)
      const salt = await ensureSalt(client, opts.schema)
      const store = new PgStateStore(opts, new JobSecretCipher(opts.runnerTokens, salt), client)
      const report: LoadReport = {fresh: before === 0, tornTail: false, warnings: [], errors: []}
      await store.load(client, report, 'full')
      return {store, report}
    } catch (error) {
      await client.end().catch(() => {})
      throw error
    }
  }

  /**
   * Reads the schema without writing or locking anything (for `status` while a daemon runs).
   * Secrets are not opened. An absent schema reads as empty; a newer one throws StateSchemaTooNewError.
   */
  static async inspect(opts: Pick<PgStateOptions, 'url' | 'schema' | 'now'>): Promise<JobStateView> {
    const client = await connect(opts.url)
    try {
      const found = await schemaVersion(client, opts.schema)
      if (found > SCHEMA_VERSION) throw new StateSchemaTooNewError(opts.schema, found)
      const store = new PgStateStore(
        {...opts, runnerTokens: new Map()},
        new JobSecretCipher(new Map(), Buffer.alloc(0)),
        client,
      )
      if (found > 0) await store.load(client, {fresh: false, tornTail: false, warnings: [], errors: []}, 'view')
      store.closed = true
      return store
    } finally {
      await client.end().catch(() => {})
    }
  }

  async put(record: JobRecord): Promise<void> {
    const k = recordKey(record.runner, record.jobId)
    this.records.set(k, record)
    const keepPayload = record.payload !== undefined && this.payloads.get(k) === record.payload
    let payload: Buffer | null = null
    if (record.payload && !keepPayload)
      payload = this.cipher.seal(record.runner, `${k}/payload`, JSON.stringify(record.payload))
    const {jobToken, payload: _p, ...rest} = record
    void _p
    try {
      await this.commit(this.sql.put, [
        record.runner,
        record.jobId,
        record.phase,
        JSON.stringify(rest),
        this.sealToken(k, record.runner, jobToken),
        payload,
        keepPayload,
      ])
    } catch (error) {
      // Not written after all: the next change of this record writes its payload again.
      if (this.payloads.get(k) === record.payload) this.payloads.delete(k)
      throw error
    }
    if (record.payload) this.payloads.set(k, record.payload)
    else this.payloads.delete(k)
  }

  async transition(record: JobRecord, phase: JobPhase, changes: Partial<JobRecord> = {}): Promise<JobRecord> {
    const next: JobRecord = {...record, ...changes, phase, phaseSince: this.opts.now()}
    await this.put(next)
    return next
  }

  async delete(runner: string, jobId: number): Promise<void> {
    const k = recordKey(runner, jobId)
    this.records.delete(k)
    this.payloads.delete(k)
    this.sealedTokens.delete(k)
    await this.commit(this.sql.delete, [runner, jobId])
  }

  async markOrphan(m: OrphanMark): Promise<void> {
    this.orphans.set(`${m.runner}/${m.resourceId}`, m)
    await this.commit(this.sql.orphan, [m.runner, m.resourceId, JSON.stringify(m)])
  }

  async unmarkOrphan(runner: string, id: string): Promise<void> {
    if (!this.orphans.delete(`${runner}/${id}`)) return
    await this.commit(this.sql.orphanDelete, [runner, id])
  }

  async keep(k: KeptResource): Promise<void> {
    this.kept.set(`${k.runner}/${k.resourceId}`, k)
    await this.commit(this.sql.kept, [k.runner, k.resourceId, JSON.stringify(k)])
  }

  async setSystemId(systemId: string): Promise<void> {
    this.systemId = systemId
    await this.commit(this.sql.meta, ['system_id', systemId])
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.pending])
    this.closed = true
    const c = this.client
    this.client = undefined
    await c?.end().catch(() => {})
  }

  /** Seals a job token once per record and token. */
  private sealToken(k: string, runner: string, token: string): Buffer {
    const cached = this.sealedTokens.get(k)
    if (cached && cached.token === token) return cached.sealed
    const sealed = this.cipher.seal(runner, `${k}/token`, token)
    this.sealedTokens.set(k, {token, sealed})
    return sealed
  }

  /** One statement, in order with the others, on the daemon's connection (reopened if lost). */
  private commit(text: string, values: unknown[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error('state store is closed'))
    const t0 = performance.now()
    const p = this.connection().then(async (c) => {
      await c.query(text, values)
      this.commitLatencies.push(performance.now() - t0)
      if (this.commitLatencies.length > 10_000) this.commitLatencies.splice(0, 5000)
    })
    const tracked = p.then(
      () => {},
      () => {},
    )
    this.pending.add(tracked)
    void tracked.then(() => this.pending.delete(tracked))
    return p
  }

  /**
   * The live connection, or a new one that holds the daemon lock again. Commits asked while it
   * reconnects wait on the same attempt, so their order is kept.
   */
  private connection(): Promise<pg.Client> {
    if (this.client) return Promise.resolve(this.client)
    this.reconnecting ??= (async () => {
      let c: pg.Client
      try {
        c = await connect(this.opts.url)
      } catch (error) {
        throw new StateUnavailableError(
          `${this.path}: cannot reconnect to the database: ${(error as Error).message}`,
          error,
        )
      }
      try {
        await lockSchema(c, this.opts.schema)
      } catch (error) {
        await c.end().catch(() => {})
        throw new StateUnavailableError(
          `${this.path}: the connection was lost and the schema is now held by another daemon: this daemon writes nothing more`,
          error,
        )
      }
      this.adopt(c)
      return c
    })().finally(() => {
      this.reconnecting = undefined
    })
    return this.reconnecting
  }

  /** Takes a connection as the daemon's; once it fails, the next commit opens another. */
  private adopt(c: pg.Client): void {
    this.client = c
    const drop = (error?: Error): void => {
      if (this.client !== c) return
      this.client = undefined
      if (error) this.opts.onConnectionError?.(error)
      void c.end().catch(() => {})
    }
    c.removeAllListeners('error')
    c.on('error', drop)
    c.on('end', () => drop())
  }

  /** Fills the maps; a row that is not valid or cannot be opened is an error of that record, kept in the database. */
  private async load(c: pg.ClientBase, report: LoadReport, mode: 'full' | 'view'): Promise<void> {
    const meta = await c.query<{key: string; value: string}>(this.sql.selectMeta)
    this.systemId = meta.rows.find((r) => r.key === 'system_id')?.value
    const jobs = await c.query<{
      runner: string
      job_id: string
      record: unknown
      token: Buffer
      payload: Buffer | null
    }>(this.sql.selectJobs)
    for (const row of jobs.rows) {
      const k = recordKey(row.runner, Number(row.job_id))
      const what = `the record of job ${row.job_id} (runner ${row.runner})`
      let jobToken = '<sealed>'
      let payload: unknown
      if (mode === 'full') {
        try {
          jobToken = this.cipher.open(row.runner, `${k}/token`, row.token)
          if (row.payload) payload = JSON.parse(this.cipher.open(row.runner, `${k}/payload`, row.payload)) as unknown
        } catch (error) {
          if (!(error instanceof SecretUnsealError)) throw error
          report.errors.push(
            `${this.path}: ${what}: ${error.message}; it is kept in the database as it is and ignored; meanwhile the job is not driven, and its resource, if any, is treated as an orphan`,
          )
          continue
        }
      }
      const parsed = jobRecordSchema.safeParse({
        ...(row.record as object),
        jobToken,
        ...(payload === undefined ? {} : {payload}),
      })
      if (!parsed.success || parsed.data.runner !== row.runner || String(parsed.data.jobId) !== row.job_id) {
        const why = parsed.success ? 'its runner or job id differ from its row' : describeEntryIssues(parsed.error)
        report.errors.push(
          `${this.path}: ${what} is not valid (${why}); it is kept in the database as it is and ignored; meanwhile the job is not driven, and its resource, if any, is treated as an orphan`,
        )
        continue
      }
      const {hasPayload: _h, ...record} = parsed.data
      void _h
      this.records.set(k, record as JobRecord)
      if (record.payload) this.payloads.set(k, record.payload as JobPayload)
    }
    for (const row of (await c.query<{mark: unknown}>(this.sql.selectOrphans)).rows) {
      const m = orphanMarkSchema.safeParse(row.mark)
      if (m.success) this.orphans.set(`${m.data.runner}/${m.data.resourceId}`, m.data as OrphanMark)
      else report.errors.push(`${this.path}: an orphan mark is not valid (${describeEntryIssues(m.error)}); ignored`)
    }
    for (const row of (await c.query<{kept: unknown}>(this.sql.selectKept)).rows) {
      const k = keptResourceSchema.safeParse(row.kept)
      if (k.success) this.kept.set(`${k.data.runner}/${k.data.resourceId}`, k.data as KeptResource)
      else report.errors.push(`${this.path}: a kept resource is not valid (${describeEntryIssues(k.error)}); ignored`)
    }
  }
}

/** Every statement of the store, on tables of `schema`. */
function statements(schema: string) {
  const s = ident(schema)
  return {
    put: `INSERT INTO ${s}.jobs AS j (runner, job_id, phase, record, token, payload) VALUES ($1, $2, $3, $4::jsonb, $5, $6)
          ON CONFLICT (runner, job_id) DO UPDATE SET phase = EXCLUDED.phase, record = EXCLUDED.record, token = EXCLUDED.token,
            payload = CASE WHEN $7::boolean THEN j.payload ELSE EXCLUDED.payload END, updated_at = now()`,
    delete: `DELETE FROM ${s}.jobs WHERE runner = $1 AND job_id = $2`,
    orphan: `INSERT INTO ${s}.orphans (runner, resource_id, mark) VALUES ($1, $2, $3::jsonb) ON CONFLICT (runner, resource_id) DO UPDATE SET mark = EXCLUDED.mark`,
    orphanDelete: `DELETE FROM ${s}.orphans WHERE runner = $1 AND resource_id = $2`,
    kept: `INSERT INTO ${s}.kept (runner, resource_id, kept) VALUES ($1, $2, $3::jsonb) ON CONFLICT (runner, resource_id) DO UPDATE SET kept = EXCLUDED.kept`,
    meta: `INSERT INTO ${s}.meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`,
    selectMeta: `SELECT key, value FROM ${s}.meta`,
    selectJobs: `SELECT runner, job_id::text AS job_id, record, token, payload FROM ${s}.jobs ORDER BY runner, job_id`,
    selectOrphans: `SELECT mark FROM ${s}.orphans ORDER BY runner, resource_id`,
    selectKept: `SELECT kept FROM ${s}.kept ORDER BY runner, resource_id`,
  }
}

/** One daemon per schema until clusters exist: a session lock, which the server drops with the connection. */
async function lockSchema(c: pg.ClientBase, schema: string): Promise<void> {
  const r = await c.query<{ok: boolean}>(`SELECT pg_try_advisory_lock(hashtext($1)) AS ok`, [
    `heptapod-paas-runner daemon ${schema}`,
  ])
  if (!r.rows[0]!.ok) {
    throw new StartupError(
      'state_locked',
      `schema ${schema} is in use by another daemon; daemons cannot share a schema yet (clusters are not implemented): ` +
        'stop that daemon, or give this configuration its own state_schema',
      {path: 'state_url'},
    )
  }
}

/** The HKDF salt of this schema: random, made once, stored (it is not a secret). */
async function ensureSalt(c: pg.ClientBase, schema: string): Promise<Buffer> {
  const s = ident(schema)
  await c.query(`INSERT INTO ${s}.meta (key, value) VALUES ('secret_salt', $1) ON CONFLICT (key) DO NOTHING`, [
    randomBytes(32).toString('hex'),
  ])
  const r = await c.query<{value: string}>(`SELECT value FROM ${s}.meta WHERE key = 'secret_salt'`)
  return Buffer.from(r.rows[0]!.value, 'hex')
}

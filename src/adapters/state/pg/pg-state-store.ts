import {randomBytes} from 'node:crypto'

import type pg from 'pg'

import {PaasRunnerError} from '../../../core/errors.js'
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
import type {ClusterView} from '../../../core/status-schema.js'
import {FencedError} from '../../../core/state/cluster-port.js'
import {PgCluster, type MemberOptions} from './pg-cluster.js'
import {connect, describeUrl} from './pg-connection.js'
import {ident, migrate, schemaVersion, SCHEMA_VERSION, StateSchemaTooNewError} from './pg-migrations.js'
import {RevisionMap} from '../../../core/revision-map.js'

/** A job row as read from the database. */
export interface JobRow {
  runner: string
  job_id: string
  record: unknown
  token: Buffer
  payload: Buffer | null
}

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
  /**
   * This daemon as a member of the cluster: it joins (lease, shared settings), loads only the jobs
   * it owns, and every change is fenced (refused once its lease expired or the job was adopted).
   * Without it (`state migrate`), the store reads every job and writes them unowned.
   */
  member?: MemberOptions
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
 * Daemons on one schema form a cluster (pg-cluster.ts): each owns the jobs it drives, and each
 * change is fenced in its own statement: it applies only while this daemon's lease is live and
 * the job is still its own, else it fails with FencedError and changes nothing. While the
 * database does not answer, a change is retried until this daemon's lease is in doubt.
 */
export class PgStateStore implements JobStatePort {
  readonly records = new RevisionMap<string, JobRecord>()
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
  /** The last change asked: the next one starts once it is done. */
  private tail: Promise<void> = Promise.resolve()
  private client: pg.Client | undefined
  private reconnecting: Promise<pg.Client> | undefined
  private closed = false
  private readonly sql: ReturnType<typeof statements>
  /** Records whose row exists (loaded, adopted or written): the first write of a new one takes over its runner's reservation. */
  private readonly written = new Set<string>()
  /** The cluster membership (absent for `state migrate`). */
  cluster: PgCluster | undefined

  private constructor(
    private readonly opts: PgStateOptions,
    private readonly cipher: JobSecretCipher,
    client: pg.Client,
  ) {
    this.path = `${describeUrl(opts.url)} (schema ${opts.schema})`
    this.sql = statements(opts.schema)
    this.useConnection(client)
  }

  /** The id that owns what this store writes (null: unowned, `state migrate`). */
  private get owner(): string | null {
    return this.cluster?.daemonId ?? null
  }

  /**
   * Connects, migrates the schema (creating it), joins the cluster (with `member`: a lease, the
   * shared settings checked) and loads what this daemon owns, then adopts the jobs of daemons
   * whose lease expired. Throws StateSchemaTooNewError or ClusterSettingsError (exit 2), or the
   * connection's error.
   */
  static async open(opts: PgStateOptions): Promise<{store: PgStateStore; report: LoadReport}> {
    const client = await connect(opts.url)
    let store: PgStateStore | undefined
    try {
      const before = await migrate(client, opts.schema)
      const salt = await ensureSalt(client, opts.schema)
      store = new PgStateStore(opts, new JobSecretCipher(opts.runnerTokens, salt), client)
      const report: LoadReport = {fresh: before === 0, tornTail: false, warnings: [], errors: []}
      if (opts.member) {
        store.cluster = await PgCluster.join(opts.url, opts.schema, opts.member, store)
        await store.load(client, report, 'full', store.cluster.daemonId)
        await store.cluster.adoptInto(report)
      } else {
        await store.load(client, report, 'full')
      }
      return {store, report}
    } catch (error) {
      await store?.cluster?.leave().catch(() => {})
      await store?.cluster?.close()
      await client.end().catch(() => {})
      throw error
    }
  }

  /**
   * Reads the schema without writing or locking anything (for `status` while a daemon runs).
   * Secrets are not opened. An absent schema reads as empty; a newer one throws StateSchemaTooNewError.
   */
  static async inspect(
    opts: Pick<PgStateOptions, 'url' | 'schema' | 'now'>,
  ): Promise<JobStateView & {clusterView?: ClusterView}> {
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
      const cluster = found >= 2 ? await readClusterView(client, opts.schema) : undefined
      return Object.assign(store, cluster ? {clusterView: cluster} : {})
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
    const fresh = !this.written.has(k)
    try {
      const r = await this.commit(this.sql.put, [
        record.runner,
        record.jobId,
        record.phase,
        JSON.stringify(rest),
        this.sealToken(k, record.runner, jobToken),
        payload,
        keepPayload,
        this.owner,
        fresh,
      ])
      if (r.rowCount === 0) throw this.fenced(`job ${record.jobId} (runner ${record.runner})`)
      this.written.add(k)
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
    this.written.delete(k)
    const r = await this.commit(this.sql.delete, [runner, jobId, this.owner])
    const row = r.rows[0] as {deleted: string; held_by_other: boolean} | undefined
    if (row?.held_by_other) throw this.fenced(`job ${jobId} (runner ${runner})`)
  }

  private fenced(what: string): FencedError {
    return new FencedError(
      `${what}: this daemon no longer holds it (its lease expired, or another daemon adopted the job): it does nothing more for it`,
    )
  }

  /** Takes rows adopted by the cluster: opened and checked like loaded ones; returns the records taken. */
  takeRows(rows: readonly JobRow[], report: LoadReport): JobRecord[] {
    const out: JobRecord[] = []
    for (const row of rows) {
      const rec = this.rowToRecord(row, report, 'full')
      if (rec) out.push(rec)
    }
    return out
  }

  async markOrphan(m: OrphanMark): Promise<void> {
    this.orphans.set(`${m.runner}/${m.resourceId}`, m)
    await this.fencedCommit(
      this.sql.orphan,
      [m.runner, m.resourceId, JSON.stringify(m), this.owner],
      `orphan mark of ${m.resourceId}`,
    )
  }

  async unmarkOrphan(runner: string, id: string): Promise<void> {
    if (!this.orphans.delete(`${runner}/${id}`)) return
    await this.fencedCommit(this.sql.orphanDelete, [runner, id, this.owner], `orphan mark of ${id}`, true)
  }

  async keep(k: KeptResource): Promise<void> {
    this.kept.set(`${k.runner}/${k.resourceId}`, k)
    await this.fencedCommit(
      this.sql.kept,
      [k.runner, k.resourceId, JSON.stringify(k), this.owner],
      `kept resource ${k.resourceId}`,
    )
  }

  async setSystemId(systemId: string): Promise<void> {
    // Daemons starting at once on an empty schema: the first identity stored wins, and every one uses it.
    const r = await this.commit(this.sql.meta, ['system_id', systemId])
    this.systemId = (r.rows[0] as {value: string}).value
  }

  /** A statement guarded by this daemon's lease (returns a row `live`); `idempotent`: no row touched is fine. */
  private async fencedCommit(text: string, values: unknown[], what: string, idempotent = false): Promise<void> {
    const r = await this.commit(text, values)
    const live = (r.rows[0] as {live?: boolean} | undefined)?.live
    if (live === false || (!idempotent && r.rowCount === 0 && live === undefined)) throw this.fenced(what)
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

  /**
   * One statement, in order with the others, on the daemon's connection (reopened if lost).
   * While the database does not answer, it is retried as long as this daemon's lease may still
   * be live; after that, the change fails with FencedError (the job may be another daemon's now).
   */
  private commit(text: string, values: unknown[]): Promise<pg.QueryResult> {
    if (this.closed) return Promise.reject(new Error('state store is closed'))
    const t0 = performance.now()
    // One after the other, also across retries: a change never overtakes one asked before it.
    const p = this.tail.then(async () => {
      for (let attempt = 0; ; attempt++) {
        if (this.cluster && !this.cluster.leaseValid()) throw this.fenced('a change')
        try {
          const c = await this.connection()
          const r = await c.query(text, values)
          this.commitLatencies.push(performance.now() - t0)
          if (this.commitLatencies.length > 10_000) this.commitLatencies.splice(0, 5000)
          return r
        } catch (error) {
          if (!this.cluster || !isConnectionError(error) || this.closed) throw error
          // The database is away (or the link to it): retry, a little later each time.
          await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** attempt, 1000)))
        }
      }
    })
    const tracked = p.then(
      () => {},
      () => {},
    )
    this.tail = tracked
    this.pending.add(tracked)
    void tracked.then(() => this.pending.delete(tracked))
    return p
  }

  /**
   * The live connection, or a new one. Commits asked while it reconnects wait on the same
   * attempt, so their order is kept.
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
      this.useConnection(c)
      return c
    })().finally(() => {
      this.reconnecting = undefined
    })
    return this.reconnecting
  }

  /** Takes a connection as the daemon's; once it fails, the next commit opens another. */
  private useConnection(c: pg.Client): void {
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

  /**
   * Fills the maps; a row that is not valid or cannot be opened is an error of that record, kept
   * in the database. `owner`: only the jobs of this daemon (a cluster member), else every job.
   */
  private async load(c: pg.ClientBase, report: LoadReport, mode: 'full' | 'view', owner?: string): Promise<void> {
    const meta = await c.query<{key: string; value: string}>(this.sql.selectMeta)
    this.systemId = meta.rows.find((r) => r.key === 'system_id')?.value
    const jobs =
      owner === undefined
        ? await c.query<JobRow>(this.sql.selectJobs)
        : await c.query<JobRow>(this.sql.selectOwnedJobs, [owner])
    for (const row of jobs.rows) this.rowToRecord(row, report, mode)
    await this.loadMarks(c, report)
  }

  /** The orphan marks and kept resources, as the database has them now (another daemon may have swept). */
  async loadMarks(c: pg.ClientBase, report: LoadReport): Promise<void> {
    this.orphans.clear()
    this.kept.clear()
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
  /** One job row opened, checked and put in `records`; undefined (and an error in the report) when it cannot be. */
  private rowToRecord(row: JobRow, report: LoadReport, mode: 'full' | 'view'): JobRecord | undefined {
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
        return undefined
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
      return undefined
    }
    const {hasPayload: _h, ...record} = parsed.data
    void _h
    this.records.set(k, record as JobRecord)
    this.written.add(k)
    if (record.payload) this.payloads.set(k, record.payload as JobPayload)
    return record as JobRecord
  }
}

/**
 * Every statement of the store, on tables of `schema`. `$owner` is this daemon's id (NULL for
 * `state migrate`): each change applies only while that daemon's lease is live, and a job's row
 * only while it is that daemon's; the row count (or `live`) tells the caller it was fenced.
 */
function statements(schema: string) {
  const s = ident(schema)
  // Live: no owner (a tool), or a daemon whose lease has not expired and that has not left.
  const live = (p: string) =>
    `(${p}::text IS NULL OR EXISTS (SELECT 1 FROM ${s}.daemons d WHERE d.id = ${p}::text AND d.lease_until > clock_timestamp() AND d.left_at IS NULL))`
  return {
    // $9: the record's first write: the reservation of its runner's request in flight becomes this record, in the same statement.
    put: `WITH res AS (DELETE FROM ${s}.reservations WHERE $9::boolean AND daemon = $8::text AND runner = $1 AND ${live('$8')})
          INSERT INTO ${s}.jobs AS j (runner, job_id, phase, record, token, payload, owner)
          SELECT $1::text, $2::bigint, $3::text, $4::jsonb, $5::bytea, $6::bytea, $8::text WHERE ${live('$8')}
          ON CONFLICT (runner, job_id) DO UPDATE SET phase = EXCLUDED.phase, record = EXCLUDED.record, token = EXCLUDED.token,
            payload = CASE WHEN $7::boolean THEN j.payload ELSE EXCLUDED.payload END, updated_at = now()
          WHERE j.owner IS NOT DISTINCT FROM $8::text`,
    delete: `WITH del AS (DELETE FROM ${s}.jobs WHERE runner = $1 AND job_id = $2 AND owner IS NOT DISTINCT FROM $3::text AND ${live('$3')} RETURNING 1)
             SELECT (SELECT count(*) FROM del) AS deleted,
                    EXISTS (SELECT 1 FROM ${s}.jobs WHERE runner = $1 AND job_id = $2) AND NOT EXISTS (SELECT 1 FROM del) AS held_by_other`,
    orphan: `WITH w AS (INSERT INTO ${s}.orphans (runner, resource_id, mark) SELECT $1::text, $2::text, $3::jsonb WHERE ${live('$4')}
               ON CONFLICT (runner, resource_id) DO UPDATE SET mark = EXCLUDED.mark RETURNING 1)
             SELECT ${live('$4')} AS live`,
    orphanDelete: `WITH w AS (DELETE FROM ${s}.orphans WHERE runner = $1 AND resource_id = $2 AND ${live('$3')} RETURNING 1)
                   SELECT ${live('$3')} AS live`,
    kept: `WITH w AS (INSERT INTO ${s}.kept (runner, resource_id, kept) SELECT $1::text, $2::text, $3::jsonb WHERE ${live('$4')}
             ON CONFLICT (runner, resource_id) DO UPDATE SET kept = EXCLUDED.kept RETURNING 1)
           SELECT ${live('$4')} AS live`,
    meta: `WITH ins AS (INSERT INTO ${s}.meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING RETURNING value)
           SELECT value FROM ins UNION ALL SELECT value FROM ${s}.meta WHERE key = $1 LIMIT 1`,
    selectMeta: `SELECT key, value FROM ${s}.meta`,
    selectJobs: `SELECT runner, job_id::text AS job_id, record, token, payload FROM ${s}.jobs ORDER BY runner, job_id`,
    selectOwnedJobs: `SELECT runner, job_id::text AS job_id, record, token, payload FROM ${s}.jobs WHERE owner = $1 ORDER BY runner, job_id`,
    selectOrphans: `SELECT mark FROM ${s}.orphans ORDER BY runner, resource_id`,
    selectKept: `SELECT kept FROM ${s}.kept ORDER BY runner, resource_id`,
  }
}

/** The daemons, their leases and who holds which job (for `status`). */
async function readClusterView(c: pg.ClientBase, schema: string): Promise<ClusterView> {
  const s = ident(schema)
  const daemons = await c.query<{
    id: string
    host: string
    pid: number
    started_at: Date
    renewed_at: Date
    lease_until: Date
    left: boolean
    live: boolean
    jobs: string
  }>(`
    SELECT d.id, d.host, d.pid, d.started_at, d.renewed_at, d.lease_until, d.left_at IS NOT NULL AS left,
           d.lease_until > clock_timestamp() AND d.left_at IS NULL AS live, (SELECT count(*) FROM ${s}.jobs j WHERE j.owner = d.id) AS jobs
    FROM ${s}.daemons d
    WHERE d.left_at IS NULL OR d.left_at > clock_timestamp() - interval '1 day' OR EXISTS (SELECT 1 FROM ${s}.jobs j WHERE j.owner = d.id)
    ORDER BY d.started_at`)
  const holders = await c.query<{runner: string; job_id: string; owner: string | null}>(
    `SELECT runner, job_id::text AS job_id, owner FROM ${s}.jobs`,
  )
  const sweeper = await c.query<{sweeper: string | null}>(
    `SELECT c.sweeper FROM ${s}.cluster c JOIN ${s}.daemons d ON d.id = c.sweeper WHERE c.id = 1 AND c.sweeper_until > clock_timestamp() AND d.lease_until > clock_timestamp() AND d.left_at IS NULL`,
  )
  return {
    daemons: daemons.rows.map((d) => ({
      id: d.id,
      host: d.host,
      pid: d.pid,
      startedAt: d.started_at.getTime(),
      renewedAt: d.renewed_at.getTime(),
      leaseUntil: d.lease_until.getTime(),
      state: d.left ? 'left' : d.live ? 'live' : 'expired',
      jobs: Number(d.jobs),
    })),
    holders: Object.fromEntries(holders.rows.map((h) => [recordKey(h.runner, Number(h.job_id)), h.owner])),
    sweeper: sweeper.rows[0]?.sweeper ?? null,
  }
}

/** A failure of the link to the database (worth retrying), not an error of the statement. */
export function isConnectionError(error: unknown): boolean {
  const code = (error as {code?: unknown})?.code
  // A SQLSTATE is the server's answer: only its connection classes (08, 57P) mean "try again".
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code.startsWith('08') || code.startsWith('57P')
  if (error instanceof StateUnavailableError) return true
  const message = (error as Error)?.message ?? ''
  return typeof code === 'string' || /Connection terminated|timeout|ECONN|EPIPE|not queryable|socket/i.test(message)
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

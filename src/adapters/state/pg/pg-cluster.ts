import {hostname} from 'node:os'
import {randomBytes} from 'node:crypto'

import type pg from 'pg'

import {StartupError} from '../../../core/errors.js'
import type {
  ClusterKnown,
  ClusterLimits,
  ClusterPort,
  LeaseState,
  LedgerBlocker,
} from '../../../core/state/cluster-port.js'
import {PROVISIONING_PHASES, type JobRecord} from '../../../core/state/job-record.js'
import type {LoadReport} from '../../../core/state/state-port.js'
import {diffSettings} from '../../../core/state/cluster-settings.js'
import {parseLedgerAnswer} from './ledger-answer.js'
import {connect} from './pg-connection.js'
import {ident} from './pg-migrations.js'
import type {JobRow, PgStateStore} from './pg-state-store.js'

/** What a daemon brings to the cluster. */
export interface MemberOptions {
  /** `cluster_lease_seconds`, in ms. */
  leaseMs: number
  /**
   * What every daemon of the cluster must share (runners by short token and URL, the quota
   * computation, `concurrent`, `paas_max_concurrent_provisioning`), as plain JSON: compared
   * with the cluster's at join; recorded when no other daemon is live.
   */
  settings: Record<string, unknown>
}

/** A daemon whose settings differ from the live cluster's: refused at start (exit 2), with the differences. */
export class ClusterSettingsError extends StartupError {
  constructor(
    schema: string,
    readonly differences: string[],
  ) {
    super(
      'cluster_settings_differ',
      `the daemons of schema ${schema} run other settings than this configuration; every daemon of a cluster must have the same runners, [quota_computation], concurrent and paas_max_concurrent_provisioning: ${differences.join('; ')}`,
      {path: 'state_url'},
    )
  }
}

/**
 * A daemon of this host whose process is gone (killed, crashed) still has a lease: end it now, so
 * that its jobs are adopted at once (by this daemon, restarting after a crash) instead of after
 * the lease. As the state file lock does, a process is judged by its pid on the same host name.
 */
async function endDeadNeighbours(client: pg.ClientBase, s: string): Promise<void> {
  const rows = (
    await client.query<{id: string; pid: number}>(
      `SELECT id, pid FROM ${s}.daemons WHERE host = $1 AND lease_until > clock_timestamp() AND left_at IS NULL`,
      [hostname()],
    )
  ).rows
  for (const r of rows) {
    if (r.pid === process.pid || processAlive(r.pid)) continue
    await client.query(`UPDATE ${s}.daemons SET lease_until = clock_timestamp() WHERE id = $1`, [r.id])
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** A renewal or an admission must never hang longer than a third of the lease: the daemon would act on a lease in doubt. */
const OP_TIMEOUT_SHARE = 3

/**
 * The cluster of daemons on one schema (ClusterPort), on a connection of its own so that a lease
 * renewal never waits behind job commits. A daemon joins with a lease (`daemons` row), renews it
 * every third of it, and holds the jobs it owns while the lease lives; a live daemon adopts the
 * jobs of the others once their lease has expired. Admission is the `reserve` function (a
 * transaction under the ledger's row lock).
 */
export class PgCluster implements ClusterPort {
  readonly leaseMs: number
  /** Until when (this process's clock) the lease is surely live: the last renewal sent plus the lease, minus a margin. */
  private validUntil: number
  private client: pg.Client | undefined
  private readonly s: string
  private closed = false
  private queue: Promise<void> = Promise.resolve()
  /** Others waited in the ledger's line at the last reservation granted. */
  private waitingAtGrant = false
  /** Held the sweeper's lease at the last call. */
  private sweeping = false
  /** Adoptions done, with the lease end of the daemon they came from (for the failover measure). */
  readonly adoptedLog: Array<{
    runner: string
    jobId: number
    from: string | null
    fromLeaseUntil: number | null
    at: number
  }> = []

  private constructor(
    private readonly url: string,
    private readonly schema: string,
    readonly daemonId: string,
    opts: MemberOptions,
    private readonly store: PgStateStore,
    client: pg.Client,
    sentAt: number,
  ) {
    this.leaseMs = opts.leaseMs
    this.s = ident(schema)
    this.validUntil = sentAt + this.leaseMs - this.margin
    this.useConnection(client)
  }

  /** A sixth of the lease: time for the last commit to land before the database may call the lease expired. */
  private get margin(): number {
    return Math.floor(this.leaseMs / 6)
  }

  /** Joins: checks (or records) the shared settings and registers this daemon with a lease, in one transaction. */
  static async join(url: string, schema: string, opts: MemberOptions, store: PgStateStore): Promise<PgCluster> {
    const s = ident(schema)
    const id = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`
    const client = await connect(url)
    const sentAt = Date.now()
    try {
      await client.query('BEGIN')
      const row = (
        await client.query<{settings: Record<string, unknown> | null}>(
          `SELECT settings FROM ${s}.cluster WHERE id = 1 FOR UPDATE`,
        )
      ).rows[0]!
      await endDeadNeighbours(client, s)
      const live = (
        await client.query<{n: string}>(
          `SELECT count(*) AS n FROM ${s}.daemons WHERE lease_until > clock_timestamp() AND left_at IS NULL`,
        )
      ).rows[0]!.n
      if (row.settings && Number(live) > 0) {
        const differences = diffSettings(opts.settings, row.settings)
        if (differences.length > 0) throw new ClusterSettingsError(schema, differences)
      } else {
        await client.query(
          `UPDATE ${s}.cluster SET settings = $1::jsonb, recorded_by = $2, recorded_at = clock_timestamp() WHERE id = 1`,
          [JSON.stringify(opts.settings), id],
        )
      }
      await client.query(
        `INSERT INTO ${s}.daemons (id, host, pid, lease_until) VALUES ($1, $2, $3, clock_timestamp() + $4 * interval '1 millisecond')`,
        [id, hostname(), process.pid, opts.leaseMs],
      )
      await client.query('COMMIT')
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {})
      await client.end().catch(() => {})
      throw error
    }
    return new PgCluster(url, schema, id, opts, store, client, sentAt)
  }

  leaseValid(): boolean {
    return !this.closed && Date.now() < this.validUntil
  }

  async renew(): Promise<LeaseState> {
    const sentAt = Date.now()
    let r
    try {
      r = await this.query(
        `UPDATE ${this.s}.daemons SET lease_until = clock_timestamp() + $2 * interval '1 millisecond', renewed_at = clock_timestamp()
                            WHERE id = $1 AND lease_until > clock_timestamp() AND left_at IS NULL`,
        [this.daemonId, this.leaseMs],
      )
    } catch {
      return this.leaseValid() ? 'unreachable' : 'lost'
    }
    if (r.rowCount === 0 || !this.leaseValid()) {
      // Expired in the database, or beyond what this daemon may trust: never revived.
      this.validUntil = 0
      return 'lost'
    }
    this.validUntil = sentAt + this.leaseMs - this.margin
    return 'held'
  }

  async reserve(runner: string, weight: number, limits: ClusterLimits): Promise<LedgerBlocker | undefined> {
    const r = await this.query<{r: unknown}>(
      `SELECT ${this.s}.reserve($1, $2, $3, $4, $5, $6, $7, $8, $9, true) AS r`,
      [
        this.daemonId,
        runner,
        weight,
        limits.quota,
        limits.concurrent,
        limits.maxProvisioning,
        Math.round(limits.deleteHoldMs),
        [...PROVISIONING_PHASES],
        Math.round(limits.waitingFreshMs),
      ],
    )
    const answer = parseLedgerAnswer(r.rows[0]?.r)
    switch (answer.kind) {
      case 'granted':
        this.waitingAtGrant = answer.othersWaiting
        return undefined
      case 'fenced':
        // This daemon's lease is gone: it must not take jobs.
        this.validUntil = 0
        throw new Error("this daemon's lease has expired: it takes no job")
      default:
        return answer
    }
  }

  othersWaiting(): boolean {
    return this.waitingAtGrant
  }

  async release(runner: string): Promise<void> {
    await this.query(`DELETE FROM ${this.s}.reservations WHERE daemon = $1 AND runner = $2`, [this.daemonId, runner])
  }

  /**
   * The takeover, in one statement: rows of daemons whose lease expired (or that left), or of no
   * daemon, become this daemon's while its own lease is live. Row locks make each row go to one
   * adopter (SKIP LOCKED: two adopters never wait on each other), and a late write of the old
   * owner, fenced by `owner`, can never land after it.
   */
  async adopt(): Promise<{records: JobRecord[]; errors: string[]}> {
    const report: LoadReport = {fresh: false, tornTail: false, warnings: [], errors: []}
    const records = await this.adoptInto(report)
    return {records, errors: report.errors}
  }

  /** `adopt`, with the rows that cannot be opened reported as errors of their records. */
  async adoptInto(report: LoadReport): Promise<JobRecord[]> {
    const s = this.s
    const r = await this.query<JobRow & {old_owner: string | null; old_lease: Date | null}>(
      `
      WITH me AS (SELECT 1 FROM ${s}.daemons WHERE id = $1 AND lease_until > clock_timestamp() AND left_at IS NULL),
      gone AS (SELECT id, lease_until FROM ${s}.daemons WHERE id <> $1 AND (lease_until <= clock_timestamp() OR left_at IS NOT NULL)),
      pick AS (
        SELECT j.runner, j.job_id, j.owner AS old_owner, g.lease_until AS old_lease FROM ${s}.jobs j LEFT JOIN gone g ON g.id = j.owner
        WHERE EXISTS (SELECT 1 FROM me) AND (j.owner IS NULL OR g.id IS NOT NULL OR NOT EXISTS (SELECT 1 FROM ${s}.daemons d WHERE d.id = j.owner))
        FOR UPDATE OF j SKIP LOCKED
      ),
      taken AS (
        UPDATE ${s}.jobs j SET owner = $1, updated_at = now() FROM pick
        WHERE j.runner = pick.runner AND j.job_id = pick.job_id
        RETURNING j.runner, j.job_id::text AS job_id, j.phase, j.record, j.token, j.payload, pick.old_owner, pick.old_lease
      ),
      logged AS (
        INSERT INTO ${s}.adoptions (runner, job_id, phase, from_daemon, to_daemon, from_lease_until)
        SELECT runner, job_id::bigint, phase, old_owner, $1, old_lease FROM taken
      )
      SELECT * FROM taken ORDER BY runner, job_id`,
      [this.daemonId],
    )
    // Daemons gone for a day, holding nothing, are forgotten (status shows the recent ones).
    await this.query(
      `DELETE FROM ${s}.daemons d WHERE d.lease_until < clock_timestamp() - interval '1 day' AND NOT EXISTS (SELECT 1 FROM ${s}.jobs j WHERE j.owner = d.id)`,
      [],
    )
    if (r.rows.length > 0) {
      // The reservations of the daemons gone hold nothing any more.
      await this.query(
        `DELETE FROM ${s}.reservations r USING ${s}.daemons d WHERE d.id = r.daemon AND (d.lease_until <= clock_timestamp() OR d.left_at IS NOT NULL)`,
        [],
      )
    }
    const now = Date.now()
    for (const row of r.rows)
      this.adoptedLog.push({
        runner: row.runner,
        jobId: Number(row.job_id),
        from: row.old_owner,
        fromLeaseUntil: row.old_lease ? row.old_lease.getTime() : null,
        at: now,
      })
    return this.store.takeRows(r.rows, report)
  }

  async holdSweep(): Promise<boolean> {
    const r = await this.query(
      // The sweeper keeps the role while its own lease lives (a sweep may last longer than a lease),
      // and for a day at most without sweeping again; when its lease ends, another takes over.
      `UPDATE ${this.s}.cluster SET sweeper = $1, sweeper_until = clock_timestamp() + interval '1 day'
       WHERE id = 1
         AND (sweeper IS NULL OR sweeper = $1 OR sweeper_until <= clock_timestamp()
              OR NOT EXISTS (SELECT 1 FROM ${this.s}.daemons d WHERE d.id = sweeper AND d.lease_until > clock_timestamp() AND d.left_at IS NULL))
         AND EXISTS (SELECT 1 FROM ${this.s}.daemons WHERE id = $1 AND lease_until > clock_timestamp() AND left_at IS NULL)`,
      [this.daemonId],
    )
    const held = r.rowCount === 1
    if (held && !this.sweeping) {
      // Another daemon may have marked or cleared orphans since this one loaded them.
      await this.exclusive((c) => this.store.loadMarks(c, {fresh: false, tornTail: false, warnings: [], errors: []}))
    }
    this.sweeping = held
    return held
  }

  async known(runner: string): Promise<ClusterKnown> {
    const jobs = await this.query<{job_id: string; rid: string | null}>(
      `SELECT job_id::text AS job_id, record->>'resourceId' AS rid FROM ${this.s}.jobs WHERE runner = $1`,
      [runner],
    )
    const kept = await this.query<{resource_id: string}>(`SELECT resource_id FROM ${this.s}.kept WHERE runner = $1`, [
      runner,
    ])
    return {
      jobIds: new Set(jobs.rows.map((j) => Number(j.job_id))),
      resourceIds: new Set([
        ...jobs.rows.map((j) => j.rid).filter((x): x is string => x !== null),
        ...kept.rows.map((k) => k.resource_id),
      ]),
    }
  }

  async leave(): Promise<void> {
    if (this.closed) return
    await this.query(
      `UPDATE ${this.s}.daemons SET left_at = clock_timestamp(), lease_until = least(lease_until, clock_timestamp()) WHERE id = $1`,
      [this.daemonId],
    )
    await this.query(`DELETE FROM ${this.s}.reservations WHERE daemon = $1`, [this.daemonId])
    await this.query(`DELETE FROM ${this.s}.waiters WHERE daemon = $1`, [this.daemonId])
    await this.query(`UPDATE ${this.s}.cluster SET sweeper = NULL WHERE id = 1 AND sweeper = $1`, [this.daemonId])
    this.validUntil = 0
  }

  async close(): Promise<void> {
    this.closed = true
    const c = this.client
    this.client = undefined
    await c?.end().catch(() => {})
  }

  /** One statement on the cluster's connection (reopened when lost), bounded by a third of the lease. */
  private query<T extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values: unknown[],
  ): Promise<pg.QueryResult<T>> {
    return this.exclusive((c) =>
      c.query<T>({
        text,
        values,
        query_timeout: Math.max(1000, Math.floor(this.leaseMs / OP_TIMEOUT_SHARE)),
      } as pg.QueryConfig),
    )
  }

  /**
   * Runs `work` on the cluster's connection once the statements before it are done: one at a time
   * (pg 8 warns of overlapping queries on one client, pg 9 will refuse them).
   */
  private exclusive<T>(work: (c: pg.Client) => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => work(await this.conn()))
    this.queue = run.then(
      () => {},
      () => {},
    )
    return run
  }

  /** The cluster's connection, opened again when lost. */
  private async conn(): Promise<pg.Client> {
    if (this.closed) throw new Error('the cluster connection is closed')
    if (this.client) return this.client
    const c = await connect(this.url)
    this.useConnection(c)
    return c
  }

  private useConnection(c: pg.Client): void {
    this.client = c
    const drop = (): void => {
      if (this.client !== c) return
      this.client = undefined
      void c.end().catch(() => {})
    }
    c.removeAllListeners('error')
    c.on('error', drop)
    c.on('end', drop)
  }

  /** For messages. */
  toString(): string {
    return `${this.daemonId} on schema ${this.schema}`
  }
}

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
  {
    version: 2,
    name: 'cluster: daemons and leases, job owners, shared admission ledger',
    sql: `
      -- owner: the daemon driving the job; NULL (a migrated file journal) is adopted by the first live daemon.
      ALTER TABLE jobs ADD COLUMN owner text;
      CREATE INDEX jobs_owner ON jobs (owner);
      CREATE TABLE daemons (
        id text PRIMARY KEY,
        host text NOT NULL,
        pid integer NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now(),
        renewed_at timestamptz NOT NULL DEFAULT now(),
        lease_until timestamptz NOT NULL,
        left_at timestamptz
      );
      -- settings: what every daemon of the cluster must share (runners, quota, limits), recorded by the first.
      -- sweeper: the one daemon that sweeps orphans, until sweeper_until.
      -- The row is also the ledger's lock: every admission takes it FOR UPDATE.
      CREATE TABLE cluster (
        id integer PRIMARY KEY CHECK (id = 1),
        settings jsonb,
        recorded_by text,
        recorded_at timestamptz,
        sweeper text,
        sweeper_until timestamptz
      );
      INSERT INTO cluster (id) VALUES (1);
      CREATE TABLE ledger (id integer PRIMARY KEY CHECK (id = 1));
      INSERT INTO ledger (id) VALUES (1);
      -- A job request in flight holds the heaviest weight its runner may get, a job and a provisioning slot.
      CREATE TABLE reservations (
        daemon text NOT NULL,
        runner text NOT NULL,
        weight double precision NOT NULL,
        made_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (daemon, runner)
      );
      -- Every takeover, for status and for the record of failovers.
      CREATE TABLE adoptions (
        runner text NOT NULL,
        job_id bigint NOT NULL,
        phase text NOT NULL,
        from_daemon text,
        to_daemon text NOT NULL,
        from_lease_until timestamptz,
        at timestamptz NOT NULL DEFAULT clock_timestamp()
      );
      -- One admission: under the ledger's lock, with a snapshot taken after it (READ COMMITTED, a
      -- new snapshot per statement), counts what every live daemon tracks and reserves; grants
      -- (inserts the reservation) or says which limit is reached. NULL: granted.
      CREATE FUNCTION reserve(p_daemon text, p_runner text, p_weight double precision, p_quota double precision,
                              p_concurrent integer, p_max_provisioning integer, p_delete_hold_ms bigint, p_provisioning text[])
      RETURNS jsonb LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $f$
      DECLARE
        w double precision; n bigint; prov bigint; rw double precision; rn bigint;
      BEGIN
        PERFORM 1 FROM ledger WHERE id = 1 FOR UPDATE;
        IF NOT EXISTS (SELECT 1 FROM daemons WHERE id = p_daemon AND lease_until > clock_timestamp() AND left_at IS NULL) THEN
          RETURN jsonb_build_object('kind', 'fenced');
        END IF;
        -- Jobs and reservations in ONE statement (one snapshot): a job's record replaces its
        -- reservation in one commit, so a snapshot sees one or the other, never neither.
        SELECT j.w, j.n, j.prov, r.w, r.n INTO w, n, prov, rw, rn FROM
          (SELECT coalesce(sum((record->>'weight')::double precision), 0) AS w, count(*) AS n,
                  count(*) FILTER (WHERE phase = ANY (p_provisioning)) AS prov
             FROM jobs
            WHERE NOT (phase = 'decommissioning' AND coalesce((record->>'deleteAttempts')::integer, 0) > 0
                       AND (record->>'phaseSince')::double precision < extract(epoch FROM clock_timestamp()) * 1000 - p_delete_hold_ms)) j,
          (SELECT coalesce(sum(r.weight), 0) AS w, count(*) AS n FROM reservations r JOIN daemons d ON d.id = r.daemon
            WHERE d.lease_until > clock_timestamp() AND d.left_at IS NULL AND NOT (r.daemon = p_daemon AND r.runner = p_runner)) r;
        w := w + rw; n := n + rn; prov := prov + rn;
        IF n >= p_concurrent THEN
          RETURN jsonb_build_object('kind', 'concurrent', 'jobs', n, 'limit', p_concurrent);
        END IF;
        IF prov >= p_max_provisioning THEN
          RETURN jsonb_build_object('kind', 'provisioning', 'jobs', prov, 'limit', p_max_provisioning);
        END IF;
        IF p_quota - w + 1e-9 < p_weight THEN
          RETURN jsonb_build_object('kind', 'quota', 'used', w, 'total', p_quota, 'needs', p_weight);
        END IF;
        INSERT INTO reservations (daemon, runner, weight) VALUES (p_daemon, p_runner, p_weight)
          ON CONFLICT (daemon, runner) DO UPDATE SET weight = EXCLUDED.weight, made_at = now();
        RETURN NULL;
      END
      $f$;
    `,
  },
  {
    version: 3,
    name: 'cluster: fair turns across daemons',
    sql: `
      -- A request the ledger refused, while its daemon keeps asking (fresh_until, pushed back at each
      -- refusal by the asker's own retry period): the requests waiting longer go first, as within a
      -- daemon. Without it, the daemon whose own job ends asks again at once and wins every freed slot.
      CREATE TABLE waiters (
        daemon text NOT NULL,
        runner text NOT NULL,
        weight double precision NOT NULL,
        since timestamptz NOT NULL,
        fresh_until timestamptz NOT NULL,
        PRIMARY KEY (daemon, runner)
      );
      DROP FUNCTION reserve(text, text, double precision, double precision, integer, integer, bigint, text[]);
      -- As in version 2, then: a request that the limits allow still waits while the capacity left
      -- does not also cover the requests (of any daemon) refused before it and still asked again.
      -- A refusal records or refreshes the asker's place in line; a grant ends it. With
      -- p_tell_waiting, a grant while others wait in line answers {"kind": "granted", "others_waiting":
      -- true} instead of NULL: the asker then holds no long poll (as within a daemon). The new
      -- arguments have defaults so that a daemon of the previous version, still running while this
      -- one migrates, keeps calling reserve with 8 arguments (and gets NULL for every grant).
      CREATE FUNCTION reserve(p_daemon text, p_runner text, p_weight double precision, p_quota double precision,
                              p_concurrent integer, p_max_provisioning integer, p_delete_hold_ms bigint, p_provisioning text[],
                              p_fresh_ms bigint DEFAULT 5000, p_tell_waiting boolean DEFAULT false)
      RETURNS jsonb LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $f$
      DECLARE
        w double precision; n bigint; prov bigint; rw double precision; rn bigint;
        my_since timestamptz; an bigint; aw double precision; names text[]; refusal jsonb; waiting boolean;
      BEGIN
        PERFORM 1 FROM ledger WHERE id = 1 FOR UPDATE;
        IF NOT EXISTS (SELECT 1 FROM daemons WHERE id = p_daemon AND lease_until > clock_timestamp() AND left_at IS NULL) THEN
          RETURN jsonb_build_object('kind', 'fenced');
        END IF;
        SELECT j.w, j.n, j.prov, r.w, r.n INTO w, n, prov, rw, rn FROM
          (SELECT coalesce(sum((record->>'weight')::double precision), 0) AS w, count(*) AS n,
                  count(*) FILTER (WHERE phase = ANY (p_provisioning)) AS prov
             FROM jobs
            WHERE NOT (phase = 'decommissioning' AND coalesce((record->>'deleteAttempts')::integer, 0) > 0
                       AND (record->>'phaseSince')::double precision < extract(epoch FROM clock_timestamp()) * 1000 - p_delete_hold_ms)) j,
          (SELECT coalesce(sum(r.weight), 0) AS w, count(*) AS n FROM reservations r JOIN daemons d ON d.id = r.daemon
            WHERE d.lease_until > clock_timestamp() AND d.left_at IS NULL AND NOT (r.daemon = p_daemon AND r.runner = p_runner)) r;
        w := w + rw; n := n + rn; prov := prov + rn;
        SELECT since INTO my_since FROM waiters WHERE daemon = p_daemon AND runner = p_runner AND fresh_until > clock_timestamp();
        SELECT count(*), coalesce(sum(q.weight), 0), coalesce(array_agg(q.runner || ' on ' || q.daemon ORDER BY q.since), '{}')
          INTO an, aw, names
          FROM waiters q JOIN daemons d ON d.id = q.daemon
         WHERE d.lease_until > clock_timestamp() AND d.left_at IS NULL AND q.fresh_until > clock_timestamp()
           AND NOT (q.daemon = p_daemon AND q.runner = p_runner) AND q.since < coalesce(my_since, 'infinity');
        IF n >= p_concurrent THEN
          refusal := jsonb_build_object('kind', 'concurrent', 'jobs', n, 'limit', p_concurrent);
        ELSIF prov >= p_max_provisioning THEN
          refusal := jsonb_build_object('kind', 'provisioning', 'jobs', prov, 'limit', p_max_provisioning);
        ELSIF p_quota - w + 1e-9 < p_weight THEN
          refusal := jsonb_build_object('kind', 'quota', 'used', w, 'total', p_quota, 'needs', p_weight);
        ELSIF an > 0 AND NOT (n + an < p_concurrent AND prov + an < p_max_provisioning AND p_quota - w - aw + 1e-9 >= p_weight) THEN
          refusal := jsonb_build_object('kind', 'turn', 'after', to_jsonb(names));
        END IF;
        IF refusal IS NOT NULL THEN
          INSERT INTO waiters (daemon, runner, weight, since, fresh_until)
          VALUES (p_daemon, p_runner, p_weight, clock_timestamp(), clock_timestamp() + p_fresh_ms * interval '1 millisecond')
          ON CONFLICT (daemon, runner) DO UPDATE SET weight = EXCLUDED.weight, fresh_until = EXCLUDED.fresh_until,
            since = CASE WHEN waiters.fresh_until > clock_timestamp() THEN waiters.since ELSE EXCLUDED.since END;
          RETURN refusal;
        END IF;
        DELETE FROM waiters WHERE (daemon = p_daemon AND runner = p_runner) OR fresh_until < clock_timestamp() - interval '1 hour';
        INSERT INTO reservations (daemon, runner, weight) VALUES (p_daemon, p_runner, p_weight)
          ON CONFLICT (daemon, runner) DO UPDATE SET weight = EXCLUDED.weight, made_at = now();
        IF p_tell_waiting THEN
          SELECT EXISTS (SELECT 1 FROM waiters q JOIN daemons d ON d.id = q.daemon
                          WHERE d.lease_until > clock_timestamp() AND d.left_at IS NULL AND q.fresh_until > clock_timestamp())
            INTO waiting;
          IF waiting THEN
            RETURN jsonb_build_object('kind', 'granted', 'others_waiting', true);
          END IF;
        END IF;
        RETURN NULL;
      END
      $f$;
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

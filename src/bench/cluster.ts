/**
 * The cluster's cost: admission latency (the shared ledger's transaction, against the file
 * journal's in-memory admission) and launch throughput, for one daemon on the file journal, and
 * one and three daemons on PostgreSQL, in this process against one GitLab simulator.
 */
import {spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'

import pg from 'pg'

import {makeGitLabClient} from '../adapters/gitlab/make-gitlab-client.js'
import {FsStateFile} from '../adapters/state/fs-state-file.js'
import {PgStateStore} from '../adapters/state/pg/pg-state-store.js'
import {clusterSettings} from '../core/state/cluster-settings.js'
import {abortableSleep, realClock} from '../adapters/clock/real-clock.js'
import {parseConfig} from '../core/config/parse-config.js'
import {Dispatcher} from '../core/dispatcher/dispatcher.js'
import type {ExecutorFactory} from '../core/executor.js'
import {silentLogger} from '../core/logger.js'
import {admissionBlocker} from '../core/quota/admission.js'
import type {JobStatePort} from '../core/state/state-port.js'
import {StateStore} from '../core/state/state-store.js'
import {dropMemoryCloud} from '../test-doubles/memory/memory-cloud.js'
import {memoryExecutorFactory, type MemoryExecutor} from '../test-doubles/memory/memory-executor.js'
import {GitLabSimulator} from '../sim/gitlab/gitlab-simulator.js'
import {fmtMs, percentile} from './stats.js'

export interface ClusterRow {
  setup: string
  daemons: number
  /** Admission check per job request (ms): the ledger's transaction, or the in-memory check. */
  admissionP50: number
  admissionP99: number
  /** Jobs from the simulator's queue to `running`, per second. */
  throughput: number
  jobs: number
}

const executors = new Map<string, ExecutorFactory>([['memory', memoryExecutorFactory as unknown as ExecutorFactory]])

export const BENCH_DATABASE_URL =
  process.env.HPR_BENCH_DATABASE_URL ?? process.env.HPR_TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test'

/** Why no database answers, or undefined. */
export async function databaseMissing(url = BENCH_DATABASE_URL): Promise<string | undefined> {
  const c = new pg.Client({connectionString: url, connectionTimeoutMillis: 3000})
  c.on('error', () => {})
  try {
    await c.connect()
    return undefined
  } catch (error) {
    return `no PostgreSQL at ${url}: ${(error as Error).message}`
  } finally {
    await c.end().catch(() => {})
  }
}

async function run(setup: 'file' | 'postgresql', daemons: number, jobs: number): Promise<ClusterRow> {
  const sim = new GitLabSimulator()
  await sim.start()
  const token = sim.createRunner().token
  const dir = mkdtempSync(join(tmpdir(), 'hpr-bench-cluster-'))
  const schema = `hpr_bench_${Math.random().toString(16).slice(2, 10)}`
  const cloud = `bench-cluster-${Math.random()}`
  const text = `concurrent = 2000
paas_max_concurrent_provisioning = 2000
check_interval = 0.1
job_progress_poll_interval = 600
${setup === 'postgresql' ? `state_url = "${BENCH_DATABASE_URL}"\nstate_schema = "${schema}"` : `state_file = "${join(dir, 'state.json')}"`}
[quota_computation]
  reference_runner = "bench"
  reference_flavor = "3XL"
  reference_jobs_count = 2000
[[runners]]
  name = "bench"
  url = "${sim.url}"
  token = "${token}"
  executor = "memory"
  memory_cloud = "${cloud}"
  memory_max_flavor = "XS"
`
  const c = parseConfig(text, {file: 'bench.toml', executors, defaultStateFile: join(dir, 'state.json')})
  const latencies: number[] = []
  const started: Array<{d: Dispatcher; store: JobStatePort; leave?: () => Promise<void>}> = []
  for (let i = 0; i < daemons; i++) {
    let store: JobStatePort
    let leave: (() => Promise<void>) | undefined
    let cluster
    if (setup === 'postgresql') {
      const opened = await PgStateStore.open({
        url: BENCH_DATABASE_URL,
        schema,
        runnerTokens: new Map([[c.runners[0]!.uniqueName, token]]),
        now: Date.now,
        member: {leaseMs: 30_000, settings: clusterSettings(c)},
      })
      store = opened.store
      cluster = opened.store.cluster!
      const reserve = cluster.reserve.bind(cluster)
      cluster.reserve = async (...args) => {
        const t0 = performance.now()
        try {
          return await reserve(...args)
        } finally {
          latencies.push(performance.now() - t0)
        }
      }
      const joined = cluster
      leave = async () => {
        await joined.leave()
        await joined.close()
      }
    } else {
      store = (await StateStore.open(new FsStateFile(c.stateFile), {now: Date.now})).store
    }
    if (!store.systemId) await store.setSystemId('r_benchcluster1')
    const executor = memoryExecutorFactory.create(c.runners[0] as never, {
      now: Date.now,
      sleep: abortableSleep,
      addSecret: () => {},
      log: silentLogger,
      owner: {systemId: store.systemId!, runner: c.runners[0]!.uniqueName},
    }) as MemoryExecutor
    const d = new Dispatcher({
      config: c,
      runners: [{config: c.runners[0]!, executor}],
      coordinator: makeGitLabClient({systemId: store.systemId!}),
      store,
      ...(cluster ? {cluster} : {}),
      clock: realClock,
      random: Math.random,
      logger: silentLogger,
    })
    await d.start()
    started.push({d, store, ...(leave ? {leave} : {})})
  }
  const t0 = performance.now()
  for (let i = 0; i < jobs; i++) sim.enqueueJob({flavor: 'XS'})
  const running = (): number =>
    started.reduce((n, s) => n + s.d.snapshot().jobs.filter((j) => j.phase === 'running').length, 0)
  while (running() < jobs) await new Promise((r) => setTimeout(r, 20))
  const seconds = (performance.now() - t0) / 1000
  for (const s of started) {
    await s.d.shutdown('bench done')
    await s.store.close()
    await s.leave?.()
  }
  dropMemoryCloud(cloud)
  await sim.stop()
  if (setup === 'postgresql') {
    const admin = new pg.Client({connectionString: BENCH_DATABASE_URL})
    await admin.connect()
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await admin.end()
  } else {
    // The file journal's admission is in memory: the same check, timed on its own.
    for (let i = 0; i < 10_000; i++) {
      const a = performance.now()
      admissionBlocker({
        quota: 100,
        weightInUse: i % 90,
        jobs: i % 50,
        concurrent: 2000,
        provisioning: 0,
        maxProvisioning: 2000,
        minRequestableWeight: 2.4,
      })
      latencies.push(performance.now() - a)
    }
  }
  return {
    setup: setup === 'file' ? 'file journal' : 'PostgreSQL',
    daemons,
    admissionP50: percentile(latencies, 50),
    admissionP99: percentile(latencies, 99),
    throughput: jobs / seconds,
    jobs,
  }
}

/**
 * The failover figure: the end-to-end test of three real daemons (\`test/e2e-cluster.test.ts\`),
 * one killed with kill -9 mid-run, reports how long after the kill, and after its lease ended, its
 * jobs were adopted. Its line, or why there is none.
 */
export function failoverFigure(): string {
  const repo = resolve(import.meta.dirname, '../..')
  const report = join(mkdtempSync(join(tmpdir(), 'hpr-bench-failover-')), 'failover.txt')
  const r = spawnSync(
    process.execPath,
    [join(repo, 'node_modules/vitest/vitest.mjs'), 'run', 'test/e2e-cluster.test.ts'],
    {cwd: repo, env: {...process.env, HPR_CLUSTER_REPORT: report}, encoding: 'utf8', timeout: 900_000},
  )
  if (existsSync(report)) return readFileSync(report, 'utf8').trim()
  return `not measured: test/e2e-cluster.test.ts exited ${r.status ?? r.signal} without a figure`
}

/** The three setups, in turn (never at once: the machine is shared). */
export async function clusterBench(jobs: number): Promise<ClusterRow[] | string> {
  const missing = await databaseMissing()
  const rows = [await run('file', 1, jobs)]
  if (missing) return `${missing} (only the file journal was measured: ${rows[0]!.throughput.toFixed(1)} jobs/s)`
  rows.push(await run('postgresql', 1, jobs))
  rows.push(await run('postgresql', 3, jobs))
  return rows
}

/** The cluster's table: admission latency and launch throughput per setup (\`src/bench/cluster.ts\`). */
export function clusterSection(rows: ClusterRow[] | string, failover: string): string {
  const head = `## Cluster (several daemons, one PostgreSQL)

Admission: the check a runner passes before each job request; on PostgreSQL, the shared ledger's
transaction (\`reserve\`, under the ledger's row lock), in the file journal's case the in-memory check.
Throughput: jobs from the simulator's queue to \`running\`, daemons in this process, memory executor.
Failover: three real daemons (CLI \`run\`), two GitLab simulators, 100 jobs, one daemon killed with
kill -9 mid-run (\`test/e2e-cluster.test.ts\`; bound: the lease plus one progress interval, plus a
renewal period, since adoption runs at each renewal):

- ${failover}

`
  if (typeof rows === 'string') return `${head}Not measured: ${rows}\n`
  return `${head}| store | daemons | admission p50 | admission p99 | launch throughput |
|---|---|---|---|---|
${rows.map((r) => `| ${r.setup} | ${r.daemons} | ${fmtMs(r.admissionP50)} ms | ${fmtMs(r.admissionP99)} ms | ${r.throughput.toFixed(1)} jobs/s (${r.jobs} jobs) |`).join('\n')}
`
}

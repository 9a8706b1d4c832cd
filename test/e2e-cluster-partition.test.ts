import type {ChildProcess} from 'node:child_process'
import {mkdtempSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type pg from 'pg'
import {afterAll, describe, expect, it} from 'vitest'

import {GitLabSimulator} from '../src/sim/gitlab/gitlab-simulator.js'
import {withMemoryExecutor} from '../src/test-doubles/memory/link.js'
import {exited, innerRunner, spawnDaemon} from './helpers/cluster.js'
import {dropSchemas, NO_DATABASE, TEST_DATABASE_URL, testClient, testSchema} from './helpers/postgres.js'
import {TcpProxy} from './helpers/tcp-proxy.js'
import {waitUntil} from './helpers/wait.js'

const JOBS = 30
const PARTITION_MS = 20_000

/** The times (ms) of a daemon's log lines saying `msg`. */
function logTimes(logFile: string, msg: string): number[] {
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .flatMap((l) => {
      try {
        const e = JSON.parse(l) as {msg?: string; time?: string}
        return e.msg === msg && e.time ? [Date.parse(e.time)] : []
      } catch {
        return []
      }
    })
}

const acquisitions = (logFile: string): number[] => logTimes(logFile, 'job acquired')

describe.skipIf(NO_DATABASE !== undefined)(
  `a cluster daemon cut from PostgreSQL for 20 s${NO_DATABASE ? ` (skipped: ${NO_DATABASE})` : ''}`,
  () => {
    const sim = new GitLabSimulator({ackTimeoutMs: 5000})
    const dir = mkdtempSync(join(tmpdir(), 'hpr-partition-'))
    const cloud = join(dir, 'cloud')
    const schema = testSchema()
    const db = new URL(TEST_DATABASE_URL)
    const proxy = new TcpProxy(db.hostname, Number(db.port || 5432))
    const daemons: ChildProcess[] = []
    let stopInner: (() => void) | undefined
    let client: pg.Client | undefined
    afterAll(async () => {
      stopInner?.()
      for (const d of daemons) d.kill('SIGKILL')
      await client?.end()
      await proxy.stop()
      await sim.stop()
      await dropSchemas([schema])
    })

    it('stops taking jobs at once, resumes after; nothing lost, nothing doubled, nothing adopted', async () => {
      const url = await sim.start()
      const runner = sim.createRunner()
      const port = await proxy.start()
      const proxied = new URL(TEST_DATABASE_URL)
      proxied.hostname = '127.0.0.1'
      proxied.port = String(port)
      const body = (stateUrl: string) => `concurrent = 6
check_interval = 0.1
job_progress_poll_interval = 0.5
state_url = "${stateUrl}"
state_schema = "${schema}"
cluster_lease_seconds = 40
[quota_computation]
  reference_runner = "p"
  reference_flavor = "XS"
  reference_jobs_count = 6
[[runners]]
  name = "p"
  url = "${url}"
  token = "${runner.token}"
  executor = "memory"
  memory_cloud_dir = "${cloud}"
  memory_max_flavor = "XS"
`
      writeFileSync(join(dir, 'direct.toml'), body(TEST_DATABASE_URL))
      writeFileSync(join(dir, 'cut.toml'), body(proxied.toString()))
      // Jobs last a few seconds: the daemon cut off holds some while the database is away.
      for (let i = 0; i < JOBS; i++) sim.enqueueJob({flavor: 'XS'})
      stopInner = innerRunner(cloud, new Map([[runner.token, sim]]))
      const env = {
        ...process.env,
        OCLIF_SKIP_NEW_VERSION_CHECK: 'true',
        HEPTAPOD_PAAS_RUNNER_DATA_DIR: withMemoryExecutor(join(dir, 'data')),
      }
      const cutLog = join(dir, 'cut.log')
      daemons.push(spawnDaemon(join(dir, 'direct.toml'), env, join(dir, 'direct.log')))
      const cut = spawnDaemon(join(dir, 'cut.toml'), env, cutLog)
      daemons.push(cut)

      client = await testClient()
      const held = async (): Promise<number> => {
        const [t] = (
          await client!.query<{ok: boolean}>(`SELECT to_regclass($1) IS NOT NULL AS ok`, [`"${schema}".daemons`])
        ).rows
        if (!t!.ok) return 0
        const r = await client!.query<{n: string}>(
          `SELECT count(*) AS n FROM "${schema}".jobs j JOIN "${schema}".daemons d ON d.id = j.owner WHERE d.pid = $1`,
          [cut.pid],
        )
        return Number(r.rows[0]!.n)
      }
      await waitUntil(
        async () => (await held()) > 0 && acquisitions(cutLog).length >= 2,
        120_000,
        'the daemon to cut holds jobs',
      )
      const heldAtCut = await held()
      // Read before the cut: the daemon may see its sockets close, and log it, within the same millisecond.
      const cutAt = Date.now()
      proxy.cut()
      await new Promise((resolve) => setTimeout(resolve, PARTITION_MS))
      const healedAt = Date.now()
      proxy.heal()
      // It says it resumes, then takes jobs again (new ones, asked for after it resumed).
      const resumedAt = (): number | undefined =>
        logTimes(cutLog, 'the state database answers again: intake resumes').find((t) => t >= healedAt)
      await waitUntil(() => resumedAt() !== undefined, 120_000, 'the daemon cut off resumes')
      await waitUntil(
        () => {
          if (acquisitions(cutLog).some((t) => t > resumedAt()!)) return true
          if (sim.jobs.size < JOBS + 60) sim.enqueueJob({flavor: 'XS'})
          return false
        },
        120_000,
        'the daemon cut off takes jobs again',
      )
      const total = sim.jobs.size
      const final = () => [...sim.jobs.values()].filter((j) => j.status === 'success' || j.status === 'failed').length
      await waitUntil(
        async () =>
          final() === total &&
          readdirSync(cloud).filter((f) => f.endsWith('.json')).length === 0 &&
          (await client!.query(`SELECT 1 FROM "${schema}".jobs`)).rowCount === 0,
        240_000,
        'every job final, every resource deleted',
      )

      // No job acquired while cut off (a job handed out just before the cut is recorded once the database answers).
      const during = acquisitions(cutLog).filter((t) => t > cutAt + 1000 && t < healedAt)
      expect(during).toEqual([])
      const stopped = logTimes(
        cutLog,
        'the state database does not answer: intake stops at once (job requests in flight are aborted); jobs go on, their changes wait for the database',
      )
      // At once: the store's connection drops with the cut (a generous bound for a loaded machine; the lease renewal alone would take 13 s).
      expect(stopped.filter((t) => t >= cutAt && t < healedAt)).toHaveLength(1)
      expect(stopped.find((t) => t >= cutAt)! - cutAt).toBeLessThan(5000)
      // Its lease outlived the partition: nobody adopted its jobs, and it finished them itself.
      expect(heldAtCut).toBeGreaterThan(0)
      expect((await client.query(`SELECT * FROM "${schema}".adoptions`)).rows).toEqual([])
      const jobs = [...sim.jobs.values()]
      expect(jobs.filter((j) => j.status !== 'success').map((j) => `${j.id}:${j.status}`)).toEqual([])
      const creations = readFileSync(join(cloud, '.creations'), 'utf8').trim().split('\n')
      expect(creations).toHaveLength(new Set(creations).size)
      expect(creations).toHaveLength(total)
      for (const d of daemons) d.kill('SIGTERM')
      for (const d of daemons) expect(await exited(d)).toBe(0)
    }, 400_000)
  },
)

describe.skipIf(NO_DATABASE !== undefined)(
  `a cluster daemon whose lease expired${NO_DATABASE ? ` (skipped: ${NO_DATABASE})` : ''}`,
  () => {
    const sim = new GitLabSimulator({ackTimeoutMs: 5000})
    const dir = mkdtempSync(join(tmpdir(), 'hpr-lease-'))
    const cloud = join(dir, 'cloud')
    const schema = testSchema()
    const daemons: ChildProcess[] = []
    let client: pg.Client | undefined
    afterAll(async () => {
      for (const d of daemons) d.kill('SIGKILL')
      await client?.end()
      await sim.stop()
      await dropSchemas([schema])
    })

    it('refuses a reload that changes the shared settings; exits 75 once its lease expired; restarted, it adopts its own jobs and finishes them', async () => {
      const url = await sim.start()
      const runner = sim.createRunner()
      const config = join(dir, 'lease.toml')
      const body = (concurrent: number) => `concurrent = ${concurrent}
check_interval = 0.1
job_progress_poll_interval = 0.5
state_url = "${TEST_DATABASE_URL}"
state_schema = "${schema}"
cluster_lease_seconds = 6
[quota_computation]
  reference_runner = "p"
  reference_flavor = "XS"
  reference_jobs_count = 4
[[runners]]
  name = "p"
  url = "${url}"
  token = "${runner.token}"
  executor = "memory"
  memory_cloud_dir = "${cloud}"
  memory_max_flavor = "XS"
`
      writeFileSync(config, body(4))
      const env = {
        ...process.env,
        OCLIF_SKIP_NEW_VERSION_CHECK: 'true',
        HEPTAPOD_PAAS_RUNNER_DATA_DIR: withMemoryExecutor(join(dir, 'data')),
      }
      const log = join(dir, 'lease.log')
      const first = spawnDaemon(config, env, log)
      daemons.push(first)
      for (let i = 0; i < 3; i++) sim.enqueueJob({flavor: 'XS'})
      // Jobs stay running (no inner runner yet): the daemon holds them.
      await waitUntil(
        () => [...sim.jobs.values()].filter((j) => j.status === 'running').length === 3,
        120_000,
        'three jobs running',
      )
      writeFileSync(config, body(5))
      first.kill('SIGHUP')
      await waitUntil(
        () =>
          logTimes(
            log,
            'configuration reload refused, the running configuration is kept: in a cluster, the runners, [quota_computation], concurrent and paas_max_concurrent_provisioning change only by restarting every daemon with the new configuration: concurrent: this configuration has 5, the cluster 4',
          ).length === 1,
        60_000,
        'the reload refused',
      )
      writeFileSync(config, body(4))
      // Its lease ends (as if it had not renewed it in time): it must stop acting, and exit 75.
      client = await testClient()
      await client.query(`UPDATE "${schema}".daemons SET lease_until = clock_timestamp() - interval '1 second'`)
      expect(await exited(first)).toBe(75)
      expect(readFileSync(log, 'utf8')).toMatch(/this daemon's lease of the cluster expired/)
      expect(readdirSync(cloud).filter((f) => f.endsWith('.json'))).toHaveLength(3)
      // Restarted, it joins as a new member and adopts its former jobs; they finish and their resources go.
      const stopInner = innerRunner(cloud, new Map([[runner.token, sim]]))
      try {
        const second = spawnDaemon(config, env, log)
        daemons.push(second)
        await waitUntil(
          async () =>
            [...sim.jobs.values()].every((j) => j.status === 'success') &&
            readdirSync(cloud).filter((f) => f.endsWith('.json')).length === 0 &&
            (await client!.query(`SELECT 1 FROM "${schema}".jobs`)).rowCount === 0,
          120_000,
          'the jobs finished by the restarted daemon',
        )
        expect((await client.query(`SELECT * FROM "${schema}".adoptions`)).rowCount).toBe(3)
        const creations = readFileSync(join(cloud, '.creations'), 'utf8').trim().split('\n')
        expect(creations).toHaveLength(3)
        second.kill('SIGTERM')
        expect(await exited(second)).toBe(0)
      } finally {
        stopInner()
      }
    }, 300_000)
  },
)

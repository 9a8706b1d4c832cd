import {spawn, type ChildProcess} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {GitLabSimulator} from '../src/sim/gitlab/gitlab-simulator.js'
import {BIN, REPO, runCli} from './helpers/cli.js'
import type pg from 'pg'

import {dropSchemas, NO_DATABASE, sql, TEST_DATABASE_URL, testClient, testSchema} from './helpers/postgres.js'
import {waitUntil} from './helpers/wait.js'
import {withMemoryExecutor} from '../src/test-doubles/memory/link.js'

const JOBS = 40
const KILLS = 6
const KILL_POINTS: Array<{name: string; phases: string[]}> = [
  {name: 'setting up', phases: ['acquired', 'provisioning', 'provisioned', 'launching', 'launched']},
  {name: 'running', phases: ['running']},
  {name: 'tearing down', phases: ['finished', 'decommissioning']},
]

describe.skipIf(NO_DATABASE !== undefined)(
  `one daemon on PostgreSQL, killed with kill -9 and restarted${NO_DATABASE ? ` (skipped: ${NO_DATABASE})` : ''}`,
  () => {
    const sim = new GitLabSimulator({ackTimeoutMs: 1500})
    const dir = mkdtempSync(join(tmpdir(), 'hpr-pg-'))
    const cloud = join(dir, 'cloud')
    const config = join(dir, 'config.toml')
    const schema = testSchema()
    let daemon: ChildProcess | undefined
    let innerRunner: ReturnType<typeof setInterval> | undefined
    let db: pg.Client | undefined
    afterAll(async () => {
      await db?.end()
      if (innerRunner) clearInterval(innerRunner)
      daemon?.kill('SIGKILL')
      await sim.stop()
      await dropSchemas([schema])
    })

    const env = {
      ...process.env,
      OCLIF_SKIP_NEW_VERSION_CHECK: 'true',
      HEPTAPOD_PAAS_RUNNER_DATA_DIR: withMemoryExecutor(join(dir, 'data')),
    }
    function spawnDaemon(): ChildProcess {
      const child = spawn(process.execPath, [BIN, 'run', config], {cwd: REPO, env, stdio: ['ignore', 'ignore', 'pipe']})
      child.stderr!.on('data', () => {})
      return child
    }
    const exited = (c: ChildProcess) =>
      new Promise<number | null>((resolve) =>
        c.exitCode !== null || c.signalCode !== null ? resolve(c.exitCode) : c.once('exit', (code) => resolve(code)),
      )
    /** Job rows in the database, with their phase (none while the schema does not exist yet). */
    const tracked = async (): Promise<Array<{job_id: string; phase: string}>> => {
      db ??= await testClient()
      const [t] = (await db.query<{ok: boolean}>(`SELECT to_regclass($1) IS NOT NULL AS ok`, [`"${schema}".jobs`])).rows
      return t!.ok
        ? (await db.query<{job_id: string; phase: string}>(`SELECT job_id::text, phase FROM "${schema}".jobs`)).rows
        : []
    }

    it('loses no job, runs none twice, leaves no resource; a daemon with other settings is refused; status reads the database', async () => {
      const url = await sim.start()
      const runner = sim.createRunner()
      writeFileSync(
        config,
        `concurrent = 12
check_interval = 0.1
job_progress_poll_interval = 0.5
state_url = "${TEST_DATABASE_URL}"
state_schema = "${schema}"
[quota_computation]
  reference_runner = "pg"
  reference_flavor = "3XL"
  reference_jobs_count = 2
[[runners]]
  name = "pg"
  url = "${url}"
  token = "${runner.token}"
  executor = "memory"
  memory_cloud_dir = "${cloud}"
`,
      )
      const flavors = ['XS', 'S', 'M', 'L']
      for (let i = 0; i < JOBS; i++) sim.enqueueJob({flavor: flavors[i % flavors.length]!})
      // The inner runner: a launched resource's job finishes a little later.
      const finishing = new Set<number>()
      innerRunner = setInterval(() => {
        if (!existsSync(cloud)) return
        for (const f of readdirSync(cloud)) {
          if (!f.endsWith('.json')) continue
          let r: {jobId: number; launched: boolean}
          try {
            r = JSON.parse(readFileSync(join(cloud, f), 'utf8')) as {jobId: number; launched: boolean}
          } catch {
            continue
          }
          if (!r.launched || finishing.has(r.jobId)) continue
          finishing.add(r.jobId)
          setTimeout(() => sim.finishJob(r.jobId, 'success'), 50 + (r.jobId % 7) * 40)
        }
      }, 20)

      const kills: string[] = []
      for (let k = 0; k < KILLS; k++) {
        const point = KILL_POINTS[k % KILL_POINTS.length]!
        const finishedBefore = [...sim.jobs.values()].filter((j) => j.status === 'success').length
        daemon = spawnDaemon()
        const victim = async () =>
          [...sim.jobs.values()].filter((j) => j.status === 'success').length > finishedBefore || k === 0
            ? (await tracked()).find((t) => point.phases.includes(t.phase))
            : undefined
        await waitUntil(async () => (await victim()) !== undefined, 60_000, `kill ${k + 1}: a job ${point.name}`)
        daemon.kill('SIGKILL')
        await exited(daemon)
        kills.push(`${point.name} (${(await tracked()).length} tracked)`)
      }
      daemon = spawnDaemon()
      const allDone = async () =>
        [...sim.jobs.values()].every((j) => j.status === 'success') &&
        readdirSync(cloud).filter((f) => f.endsWith('.json')).length === 0 &&
        (await tracked()).length === 0
      await waitUntil(allDone, 180_000, 'every job finished, every resource deleted, nothing tracked')
      // While the last daemon runs, a second daemon on the same schema with other limits is refused (exit 2, the difference named).
      // Spawned, not spawnSync: the simulator lives in this process and must keep answering the daemon.
      const otherConfig = join(dir, 'other.toml')
      writeFileSync(otherConfig, readFileSync(config, 'utf8').replace('concurrent = 12', 'concurrent = 13'))
      const second = await runCli(['run', otherConfig], {dataDir: join(dir, 'data')})
      expect(second.code).toBe(2)
      expect(second.stderr).toMatch(
        /state_url: the daemons of schema hpr_test_\w+ run other settings than this configuration.*concurrent: this configuration has 13, the cluster 12/,
      )
      // While it runs, `status` asks the daemon (its control socket); once it is stopped, the database.
      const live = await runCli(['status', config, '--json'], {dataDir: join(dir, 'data')})
      expect(live.code).toBe(0)
      expect((JSON.parse(live.stdout) as {source: string}).source).toBe('daemon')
      daemon.kill('SIGTERM')
      expect(await exited(daemon)).toBe(0)
      const status = await runCli(['status', config, '--json'], {dataDir: join(dir, 'data')})
      expect(status.code).toBe(3) // no daemon runs, as `systemctl status`
      const report = JSON.parse(status.stdout) as {source: string; from: string; snapshot: {jobs: unknown[]}}
      expect(report.source).toBe('database')
      expect(report.from).toContain(`schema ${schema}`)
      expect(status.stdout + live.stdout).not.toContain(runner.token)

      const jobs = [...sim.jobs.values()]
      expect(jobs.filter((j) => j.status !== 'success').map((j) => `${j.id}:${j.status}`)).toEqual([])
      expect(jobs.every((j) => j.failureReports === 0)).toBe(true)
      expect(readdirSync(cloud).filter((f) => f.endsWith('.json'))).toEqual([])
      const creations = readFileSync(join(cloud, '.creations'), 'utf8').trim().split('\n')
      // No resource made twice. The memory double appends to .creations after it made the resource, so a
      // kill -9 between the two loses a line, never a resource (every job succeeded above, on its resource).
      expect(creations).toHaveLength(new Set(creations).size)
      expect(new Set(creations).size).toBeLessThanOrEqual(JOBS)
      expect(new Set(creations).size).toBeGreaterThanOrEqual(JOBS - kills.length)
      // The runner's identity survived every restart (one system_id, stored in the database).
      expect(await sql(`SELECT value FROM "${schema}".meta WHERE key = 'system_id'`)).toHaveLength(1)
      console.log(`PostgreSQL crash test: kills ${kills.join(', ')}`)
    }, 300_000)
  },
)

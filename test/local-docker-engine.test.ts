import {type ChildProcess, spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {abortableSleep} from '../src/app/runtime.js'
import type {RunnerConfig} from '../src/core/config/config-types.js'
import {shortToken} from '../src/core/identity/short-token.js'
import {OWNER_LABELS} from '../src/core/identity/owner-marker.js'
import {silentLogger} from '../src/core/logger.js'
import {executorContract} from '../src/core/testing/executor-contract.js'
import {compareApiVersions, CLIENT_API_VERSION} from '../src/plugins/local-docker/docker-api-version.js'
import type {LocalDockerConfig} from '../src/plugins/local-docker/local-docker-config.js'
import {JOB_LABEL, LocalDockerExecutor} from '../src/plugins/local-docker/local-docker-executor.js'
import {GitLabSimulator} from '../src/sim/gitlab/gitlab-simulator.js'
import {BIN, freshDataDir, REPO} from './helpers/cli.js'
import {engineCall, ensureBaseImage, probeEngine} from './helpers/docker-engine.js'
import {waitUntil} from './helpers/wait.js'

/**
 * local-docker against the Docker engine of this machine (CI starts one: .ci/run). Images are
 * built from a base image made here (test/helpers/docker-engine.ts); no registry is needed.
 */
const engine = await probeEngine()
const title = engine
  ? `local-docker on a real Docker engine (Engine ${engine.version}, API ${engine.apiVersion}, ${engine.socket})`
  : 'local-docker on a real Docker engine: skipped, no Docker engine answers on DOCKER_HOST or /var/run/docker.sock'

// Builds on a loaded 2-core machine take seconds each: every test here may take two minutes.
describe.skipIf(!engine)(title, {timeout: 120_000}, () => {
  const socket = engine?.socket ?? ''
  const dir = mkdtempSync(join(tmpdir(), 'hpr-engine-'))
  // Per run, so that names never meet those of an earlier or concurrent run.
  const run = randomBytes(3).toString('hex')
  let base = ''
  let buildCacheBefore = 0
  let imagesBefore = new Set<string>()
  beforeAll(async () => {
    base = await ensureBaseImage(socket)
    buildCacheBefore = await buildCacheEntries()
    imagesBefore = new Set(await imageIds())
    console.log(
      `[local-docker real engine] Engine ${engine!.version} (API ${engine!.apiVersion}) on ${socket}, base image ${base}: the real-engine tests run`,
    )
  }, 300_000)

  /** Every image of the engine, intermediate build steps included. */
  async function imageIds(): Promise<string[]> {
    return (JSON.parse((await engineCall(socket, 'GET', '/images/json?all=1')).body) as Array<{Id: string}>).map(
      (i) => i.Id,
    )
  }

  /** Images made since the tests began, labelled or not: an interrupted build's steps would be here. */
  async function newImages(): Promise<string[]> {
    return (await imageIds()).filter((id) => !imagesBefore.has(id))
  }

  async function buildCacheEntries(): Promise<number> {
    const df = JSON.parse((await engineCall(socket, 'GET', '/system/df', undefined, 60_000)).body) as {
      BuildCache?: unknown[] | null
    }
    return df.BuildCache?.length ?? 0
  }

  /** Containers and images (intermediate ones included) that carry this runner's label. */
  async function leftovers(runnerShortToken: string): Promise<{containers: string[]; images: string[]}> {
    const f = encodeURIComponent(JSON.stringify({label: [`${OWNER_LABELS.runner}=${runnerShortToken}`]}))
    const cs = JSON.parse((await engineCall(socket, 'GET', `/containers/json?all=1&filters=${f}`)).body) as Array<{
      Names: string[]
      State: string
    }>
    const is = JSON.parse((await engineCall(socket, 'GET', `/images/json?all=1&filters=${f}`)).body) as Array<{
      Id: string
      RepoTags: string[] | null
    }>
    return {
      containers: cs.map((c) => `${c.Names[0]} (${c.State})`),
      images: is.map((i) => `${i.Id.slice(7, 19)} ${(i.RepoTags ?? []).join(',')}`),
    }
  }

  let seq = 0
  function executor() {
    const token = `glrt-eng${run}${++seq}x-secret`
    const runner: RunnerConfig<LocalDockerConfig> = {
      index: 0,
      url: 'http://gitlab.invalid',
      token,
      executor: 'local-docker',
      uniqueName: shortToken(token),
      mainImage: base,
      executorConfig: {host: `unix://${socket}`},
      forwarded: {name: 'l', url: 'http://gitlab.invalid', token, executor: 'local-docker'},
    }
    const deps = {
      now: Date.now,
      sleep: abortableSleep,
      addSecret: () => {},
      log: silentLogger,
      owner: {systemId: `r_engine${run}`, runner: runner.uniqueName},
    }
    return {
      executor: new LocalDockerExecutor(runner, deps),
      token,
      other: () =>
        new LocalDockerExecutor(runner, {...deps, owner: {systemId: `r_other${run}`, runner: runner.uniqueName}}),
    }
  }

  it("negotiates the engine's API version when it is older than ours", async () => {
    const {executor: ex} = executor()
    const expected =
      compareApiVersions(engine!.apiVersion, CLIENT_API_VERSION) < 0 ? engine!.apiVersion : CLIENT_API_VERSION
    expect(await ex.apiVersion()).toBe(expected)
    expect(await ex.listOwned({})).toEqual({owned: [], unmarked: []})
  })

  it('a job canceled while its image builds: the build ends first, then decommission leaves nothing, step images included', async () => {
    const {executor: ex} = executor()
    const ac = new AbortController()
    const job = {id: 900, token: 'j', variables: []}
    const created: string[] = []
    const provisioning = ex.provision(job, {signal: ac.signal, onCreated: async (r) => void created.push(r.name)})
    // Every step after FROM is labelled: cancel as soon as the first one exists.
    await waitUntil(async () => (await leftovers(ex.uniqueName)).images.length > 0, 60_000, 'a first build step')
    ac.abort(new Error('job canceled in GitLab'))
    const r = await provisioning
    // Reported, so the host deletes it: nothing of the build can appear after that.
    expect(created).toEqual([r.name])
    expect(await ex.decommission(r, {})).toBe('deleted')
    expect(await leftovers(ex.uniqueName)).toEqual({containers: [], images: []})
    expect(await newImages()).toEqual([])
  }, 120_000)

  executorContract('local-docker (real Docker engine)', async () => {
    const {executor: ex, token, other} = executor()
    return {
      executor: ex,
      // Nothing answers on port 9: the inner runner of a launched container stops at once.
      job: (id) => ({id, token: `job-${id}`, variables: [{key: 'CI_API_V4_URL', value: 'http://127.0.0.1:9/api/v4'}]}),
      secrets: [token],
      otherDaemon: async () => other(),
      cleanup: async () => {
        for (const o of (await ex.listOwned({})).owned) await ex.decommission(o.resource, {})
        const theirs = other()
        for (const o of (await theirs.listOwned({})).owned) await theirs.decommission(o.resource, {})
        expect(await leftovers(ex.uniqueName)).toEqual({containers: [], images: []})
      },
    }
  })

  describe('the daemon (real CLI) with the GitLab simulator', () => {
    let gitlab: GitLabSimulator
    const children: ChildProcess[] = []
    beforeAll(async () => {
      gitlab = new GitLabSimulator({longPollMs: 5_000})
      await gitlab.start()
    })
    afterAll(async () => {
      for (const c of children) c.kill('SIGKILL')
      await gitlab.stop()
    })

    function config(name: string, runners: Array<{name: string; token: string; mainImage: string}>): string {
      const path = join(dir, `${name}.toml`)
      writeFileSync(
        path,
        `concurrent = 4
check_interval = 0.2
job_progress_poll_interval = 0.5
state_file = "${join(dir, `${name}.state.json`)}"
[quota_computation]
  reference_runner = "${runners[0]!.name}"
  reference_flavor = "M"
  reference_jobs_count = 4
${runners
  .map(
    (r) => `[[runners]]
  name = "${r.name}"
  url = "${gitlab.url}"
  token = "${r.token}"
  executor = "local-docker"
  heptapod_runner_main_image = "${r.mainImage}"
  host = "unix://${socket}"
`,
  )
  .join('')}`,
      )
      return path
    }

    function daemon(configPath: string): {child: ChildProcess; output: () => string} {
      let out = ''
      const child = spawn(process.execPath, [BIN, 'run', configPath], {
        cwd: REPO,
        env: {...process.env, OCLIF_SKIP_NEW_VERSION_CHECK: 'true', HEPTAPOD_PAAS_RUNNER_DATA_DIR: freshDataDir()},
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
      child.stderr!.on('data', (d: Buffer) => (out += d.toString()))
      children.push(child)
      return {child, output: () => out}
    }

    async function stop(child: ChildProcess): Promise<number | null> {
      if (child.exitCode !== null) return child.exitCode
      const exited = new Promise<number | null>((r) => child.once('exit', r))
      child.kill('SIGTERM')
      return exited
    }

    /** Waits for a condition; on timeout, the daemon's last lines say why. */
    async function until(
      cond: () => boolean | Promise<boolean>,
      ms: number,
      what: string,
      output: () => string,
    ): Promise<void> {
      try {
        await waitUntil(cond, ms, what)
      } catch (error) {
        throw new Error(`${(error as Error).message}\n--- daemon output (tail) ---\n${output().slice(-4000)}`, {
          cause: error,
        })
      }
    }

    const over = (id: number): boolean => ['success', 'failed', 'canceled'].includes(gitlab.job(id)!.status)

    it("jobs succeed at GitLab from containers on the host network; a failed build fails only its job; a canceled job's container goes at once; nothing of ours is left", async () => {
      const good = gitlab.createRunner()
      const broken = gitlab.createRunner()
      // A registry that refuses at once: the build of this runner's jobs fails, without any network.
      const path = config('e2e', [
        {name: 'local', token: good.token, mainImage: base},
        {name: 'broken', token: broken.token, mainImage: '127.0.0.1:9/hpr-test-missing:none'},
      ])
      const jobs = Array.from({length: 3}, () => gitlab.enqueueJob({durationMs: 200, runnerToken: good.token}))
      const doomed = gitlab.enqueueJob({durationMs: 200, runnerToken: broken.token})
      const d = daemon(path)
      await until(() => [...jobs, doomed].every((j) => over(j.id)), 150_000, 'the four jobs over at GitLab', d.output)
      expect(jobs.map((j) => gitlab.job(j.id)!.status)).toEqual(['success', 'success', 'success'])
      // The inner runner in the container wrote the log, from the host network.
      for (const j of jobs)
        expect(gitlab.job(j.id)!.log.toString()).toMatch(/Running with gitlab-runner \(simulated\)[\s\S]*Job succeeded/)
      expect(gitlab.job(doomed.id)!.status).toBe('failed')
      expect(gitlab.job(doomed.id)!.log.toString()).toMatch(/docker build of hpd-job-\S+ failed: .*127\.0\.0\.1:9/)

      // Canceled while it runs: its container is killed and removed within a progress poll or two.
      const long = gitlab.enqueueJob({durationMs: 600_000, runnerToken: good.token})
      const f = encodeURIComponent(
        JSON.stringify({label: [`${JOB_LABEL}=${long.id}`, `${OWNER_LABELS.runner}=${shortToken(good.token)}`]}),
      )
      const running = async () =>
        (JSON.parse((await engineCall(socket, 'GET', `/containers/json?filters=${f}`)).body) as unknown[]).length
      const present = async () =>
        (JSON.parse((await engineCall(socket, 'GET', `/containers/json?all=1&filters=${f}`)).body) as unknown[]).length
      await until(
        async () => gitlab.job(long.id)!.log.length > 0 && (await running()) === 1,
        60_000,
        'the long job running in its container',
        d.output,
      )
      const t0 = Date.now()
      gitlab.cancelJob(long.id)
      await until(async () => (await present()) === 0, 20_000, "the canceled job's container removed", d.output)
      const removedAfterMs = Date.now() - t0
      expect(gitlab.job(long.id)!.status).toBe('canceled')
      await until(
        async () => (await leftovers(shortToken(good.token))).images.length === 0,
        30_000,
        'the images removed',
        d.output,
      )
      expect(await stop(d.child)).toBe(0)

      expect(await leftovers(shortToken(good.token))).toEqual({containers: [], images: []})
      expect(await leftovers(shortToken(broken.token))).toEqual({containers: [], images: []})
      expect(await buildCacheEntries()).toBe(buildCacheBefore)
      expect(await newImages()).toEqual([])
      expect(d.output()).not.toContain(good.token)
      console.log(
        `[local-docker real engine] canceled job's container removed ${removedAfterMs} ms after the cancel (progress poll 500 ms)`,
      )
    }, 240_000)

    it('kill -9 of the daemon mid-run, then a restart: every job ends at GitLab and no orphan is left', async () => {
      const r = gitlab.createRunner()
      const ours = shortToken(r.token)
      const path = config('crash', [{name: 'local', token: r.token, mainImage: base}])
      const jobs = Array.from({length: 3}, () => gitlab.enqueueJob({durationMs: 1500, runnerToken: r.token}))
      const first = daemon(path)
      // Killed once a container of ours runs (the others are being built or started).
      await until(
        async () => (await leftovers(ours)).containers.some((c) => c.endsWith('(running)')),
        120_000,
        'a job container running',
        first.output,
      )
      first.child.kill('SIGKILL')
      await new Promise((res) => first.child.once('exit', res))
      const atCrash = await leftovers(ours)
      expect(atCrash.images.length + atCrash.containers.length).toBeGreaterThan(0)

      const second = daemon(path)
      await until(() => jobs.every((j) => over(j.id)), 150_000, 'the three jobs over at GitLab', second.output)
      expect(jobs.map((j) => gitlab.job(j.id)!.status)).toEqual(['success', 'success', 'success'])
      await until(
        async () => {
          const l = await leftovers(ours)
          return l.containers.length === 0 && l.images.length === 0
        },
        60_000,
        'nothing of ours left',
        second.output,
      )
      expect(await stop(second.child)).toBe(0)
      expect(await leftovers(ours)).toEqual({containers: [], images: []})
      expect(await buildCacheEntries()).toBe(buildCacheBefore)
      expect(await newImages()).toEqual([])
    }, 300_000)
  })
})

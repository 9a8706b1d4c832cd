import {type ChildProcess, spawn} from 'node:child_process'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {createServer, request} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {abortableSleep} from '../src/app/runtime.js'
import type {RunnerConfig} from '../src/core/config/config-types.js'
import {resourceName} from '../src/core/executor.js'
import {silentLogger} from '../src/core/logger.js'
import {executorContract} from '../src/core/testing/executor-contract.js'
import {DEFAULT_MAIN_IMAGE} from '@heptapod-paas-runner/plugin-api'
import {tar, untar} from '../src/plugins/local-docker/tar.js'
import type {LocalDockerConfig} from '../src/plugins/local-docker/local-docker-config.js'
import {LocalDockerExecutor} from '../src/plugins/local-docker/local-docker-executor.js'
import {DockerSimulator} from '../src/sim/docker/docker-simulator.js'
import {GitLabSimulator} from '../src/sim/gitlab/gitlab-simulator.js'
import {BIN, freshDataDir, REPO} from './helpers/cli.js'
import {waitUntil} from './helpers/wait.js'

const dir = mkdtempSync(join(tmpdir(), 'hpr-docker-'))
const socket = join(dir, 'docker.sock')
const docker = new DockerSimulator(socket, {jobDurationMs: 100})
beforeAll(async () => {
  await docker.start()
})
afterAll(async () => {
  await docker.stop()
})

let seq = 0
function executor(host = `unix://${socket}`, token = `LocalRun${++seq}-token`, extra: Partial<LocalDockerConfig> = {}) {
  const runner: RunnerConfig<LocalDockerConfig> = {
    index: 0,
    url: 'http://gitlab.invalid',
    token,
    executor: 'local-docker',
    uniqueName: token.slice(0, 8),
    executorConfig: {host, ...extra},
    forwarded: {name: 'l', url: 'http://gitlab.invalid', token, executor: 'local-docker', docker: {image: 'debian'}},
  }
  const deps = {
    now: Date.now,
    sleep: abortableSleep,
    addSecret: () => {},
    log: silentLogger,
    owner: {systemId: 'r_contract', runner: runner.uniqueName},
  }
  return {
    executor: new LocalDockerExecutor(runner, deps),
    token,
    other: () =>
      new LocalDockerExecutor(runner, {...deps, owner: {systemId: 'r_otherdaemon', runner: runner.uniqueName}}),
  }
}

/** Resolves when the simulator receives a request for this endpoint. */
function nextRequest(endpoint: string): Promise<void> {
  return new Promise((resolve) => {
    const on = (e: string): void => {
      if (e !== endpoint) return
      docker.off('request', on)
      resolve()
    }
    docker.on('request', on)
  })
}

/** One raw request to the simulator's socket. */
function rawDocker(
  method: string,
  path: string,
  body?: string | Buffer,
  contentType = 'application/json',
): Promise<{status: number; body: Buffer}> {
  return new Promise((resolve, reject) => {
    const req = request({socketPath: socket, method, path, headers: {'content-type': contentType}}, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({status: res.statusCode ?? 0, body: Buffer.concat(chunks)}))
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** Just enough of GitLab's job API for a simulated inner runner to run a job: counts log appends. */
async function stubJobApi(): Promise<{url: string; traces: number; close(): Promise<void>}> {
  const state = {traces: 0}
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      if (req.method === 'PATCH') {
        state.traces++
        res.writeHead(202, {range: '0-1'}).end()
      } else res.writeHead(200).end()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v4`,
    get traces() {
      return state.traces
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}

executorContract('local-docker (against the Docker Engine API simulator)', async () => {
  const {executor: ex, token, other} = executor()
  return {
    executor: ex,
    job: (id) => ({id, token: `job-${id}`, variables: [{key: 'CI_API_V4_URL', value: 'http://127.0.0.1:9/api/v4'}]}),
    secrets: [token],
    otherDaemon: async () => other(),
    cleanup: async () => {
      for (const o of (await ex.listOwned({})).owned) await ex.decommission(o.resource, {})
    },
  }
})

describe('local-docker against the Docker API simulator', () => {
  it('builds from the same context as clever-docker (labelled, gzip), lower-cases the name, host network, mounts the socket', async () => {
    const {executor: ex} = executor(undefined, 'MiXeDcAs-token')
    const r = await ex.provision({id: 3, token: 'j', variables: [], image: {name: 'node:22'}}, {})
    expect(r.name).toBe('hpd-job-mixedcas-3')
    const img = docker.image(r.name)!
    expect(Object.keys(img.files).sort()).toEqual(['Dockerfile', 'job.json', 'runner.toml'])
    expect(img.files['runner.toml']!.toString()).toContain('executor = "docker"')
    // Labels right after FROM: every intermediate image of the build carries them.
    expect(img.files.Dockerfile!.toString().split('\n').slice(0, 2)).toEqual([
      `FROM ${DEFAULT_MAIN_IMAGE}`,
      'LABEL "org.heptapod.paas-runner.system-id"="r_contract" "org.heptapod.paas-runner.runner"="MiXeDcAs" "heptapod-paas-runner.job"="3"',
    ])
    expect(img.labels).toEqual({
      'org.heptapod.paas-runner.system-id': 'r_contract',
      'org.heptapod.paas-runner.runner': 'MiXeDcAs',
      'heptapod-paas-runner.job': '3',
    })
    await ex.launch(r, {id: 3, token: 'j', variables: []}, {})
    const c = docker.containers.get(r.name)!
    expect([c.binds, c.networkMode]).toEqual([[`${socket}:/var/run/docker.sock`], 'host'])
    expect(await ex.decommission(r, {})).toBe('deleted')
    expect([docker.image(r.name), docker.containers.has(r.name)]).toEqual([undefined, false])
  })

  it('a short token with `_-` (valid in a token, not in an image name) still makes a valid image and container name', async () => {
    const {executor: ex} = executor(undefined, 'ab_-Cdef-token')
    const r = await ex.provision({id: 4, token: 'j', variables: [], image: {name: 'node:22'}}, {})
    expect(r.name).toBe('hpd-job-ab-cdef-4')
    expect(docker.image(r.name)).toBeDefined()
    await ex.launch(r, {id: 4, token: 'j', variables: []}, {})
    expect(await ex.decommission(r, {})).toBe('deleted')
  })

  it("network_mode chooses the containers' network", async () => {
    const {executor: ex} = executor(undefined, undefined, {network_mode: 'bridge'})
    const job = {id: 31, token: 'j', variables: []}
    const r = await ex.launch(await ex.provision(job, {}), job, {})
    expect(docker.containers.get(r.name)!.networkMode).toBe('bridge')
    await ex.decommission(r, {})
  })

  it('a build failure (pull denied) and a missing socket are errors with their reason', async () => {
    docker.failBuilds = 1
    const {executor: ex} = executor()
    await expect(ex.provision({id: 4, token: 'j', variables: []}, {})).rejects.toThrow(
      /docker build of hpd-job-\S+-4 failed: pull access denied/,
    )
    const {executor: nowhere} = executor(`unix://${join(dir, 'nope.sock')}`)
    await expect(nowhere.provision({id: 5, token: 'j', variables: []}, {})).rejects.toThrow(
      /cannot reach the Docker engine at .*nope\.sock: no such socket/,
    )
  })

  it('a job canceled while its image builds: the build is let finish and reported; past the grace it is cut off', async () => {
    const {executor: ex} = executor()
    docker.addFault('POST /build', {delayMs: 300, times: 1})
    const ac = new AbortController()
    const created: string[] = []
    const building = nextRequest('POST /build')
    const provisioning = ex.provision(
      {id: 39, token: 'j', variables: []},
      {signal: ac.signal, onCreated: async (r) => void created.push(r.name)},
    )
    await building
    ac.abort(new Error('job canceled in GitLab'))
    const r = await provisioning
    expect([created, docker.image(r.name) !== undefined]).toEqual([[r.name], true])
    await ex.decommission(r, {})
    // Past the grace (a sleep that ends at once), the connection is cut and the abort reported.
    const runner = {
      index: 0,
      url: 'http://gitlab.invalid',
      token: 'CutBuild-token',
      executor: 'local-docker',
      uniqueName: 'CutBuild',
      executorConfig: {host: `unix://${socket}`},
      forwarded: {},
    }
    const hasty = new LocalDockerExecutor(runner, {
      now: Date.now,
      sleep: async () => {},
      addSecret: () => {},
      log: silentLogger,
      owner: {systemId: 'r_contract', runner: 'CutBuild'},
    })
    docker.addFault('POST /build', {delayMs: 5000, times: 1})
    const ac2 = new AbortController()
    const building2 = nextRequest('POST /build')
    const cut = hasty.provision({id: 40, token: 'j', variables: []}, {signal: ac2.signal})
    await building2
    ac2.abort(new Error('job canceled in GitLab'))
    await expect(cut).rejects.toThrow('job canceled in GitLab')
    expect(docker.image('hpd-job-cutbuild-40')).toBeUndefined()
  })

  it('launch never starts a container of ours twice, and refuses a container of that name that is not ours', async () => {
    const {executor: ex, other} = executor()
    const job = {id: 32, token: 'j', variables: []}
    const r = await ex.launch(await ex.provision(job, {}), job, {})
    await waitUntil(() => docker.containers.get(r.name)!.state === 'exited', 10_000, 'the job over')
    // As after a crash between the start and its record: launched again, not started again.
    await ex.launch({...r, launched: false}, job, {})
    expect(docker.containers.get(r.name)!.state).toBe('exited')
    expect(docker.counters.get('POST /containers/:name/start', 204)).toBeGreaterThan(0)
    const starts = docker.counters.get('POST /containers/:name/start', 204)
    await ex.launch({...r, launched: false}, job, {})
    expect(docker.counters.get('POST /containers/:name/start', 204)).toBe(starts)
    // The image is ours, the container of that name another daemon's.
    const theirs = other()
    docker.containers.delete(r.name)
    await theirs.provision({id: 33, token: 'j', variables: []}, {})
    const createTheirs = await rawDocker(
      'POST',
      `/v1.41/containers/create?name=${r.name}`,
      JSON.stringify({
        Image: resourceName(theirs.uniqueName, 33),
        Labels: {
          'org.heptapod.paas-runner.system-id': 'r_otherdaemon',
          'org.heptapod.paas-runner.runner': theirs.uniqueName,
        },
      }),
    )
    expect(createTheirs.status).toBe(201)
    await expect(ex.launch({...r, launched: false}, job, {})).rejects.toMatchObject({code: 'name_taken'})
    // Nor is it removed with our image.
    expect(await ex.decommission(r, {})).toBe('deleted')
    expect(docker.containers.has(r.name)).toBe(true)
    docker.containers.delete(r.name)
    await theirs.decommission(
      {
        id: resourceName(theirs.uniqueName, 33),
        name: resourceName(theirs.uniqueName, 33),
        weight: 1,
        launched: false,
        data: {},
      },
      {},
    )
  })

  it('decommission kills a running job at once', async () => {
    const api = await stubJobApi()
    try {
      const {executor: ex} = executor()
      const job = {
        id: 34,
        token: 'j',
        variables: [
          {key: 'CI_API_V4_URL', value: api.url},
          {key: 'SIM_JOB_DURATION_MS', value: '600000'},
        ],
      }
      const r = await ex.launch(await ex.provision(job, {}), job, {})
      const c = docker.containers.get(r.name)!
      await waitUntil(() => api.traces > 0, 10_000, 'the job running')
      expect(await ex.decommission(r, {})).toBe('deleted')
      expect([c.state, c.exitCode, c.ran?.detail]).toEqual(['exited', 137, 'killed'])
    } finally {
      await api.close()
    }
  })

  it('an image left dangling by a repeated build is ours to list and to prune', async () => {
    const {executor: ex} = executor()
    const job = {id: 35, token: 'j', variables: []}
    const r = await ex.provision(job, {})
    // Another build to the same tag (as a build that went on after a kill -9 and one after the restart).
    docker.image(r.name)!.tags = []
    expect(docker.images.size).toBeGreaterThan(0)
    expect((await ex.listOwned({})).owned.map((o) => o.name)).toEqual([r.name])
    expect(await ex.decommission(r, {})).toBe('deleted')
    expect([...docker.images.values()].filter((i) => i.labels['heptapod-paas-runner.job'] === '35')).toEqual([])
    expect(await ex.decommission(r, {})).toBe('absent')
  })

  it("listOwned finds ours by label; an unmarked look-alike is reported, another's is in neither list", async () => {
    const {executor: ex, other} = executor()
    const mine = await ex.provision({id: 36, token: 'j', variables: []}, {})
    await other().provision({id: 37, token: 'j', variables: []}, {})
    const ctx = tar({Dockerfile: 'FROM debian\n'})
    expect(
      (await rawDocker('POST', `/build?t=${resourceName(ex.uniqueName, 38)}`, ctx, 'application/x-tar')).status,
    ).toBe(200)
    const listing = await ex.listOwned({})
    expect(listing.owned.map((o) => o.name)).toEqual([mine.name])
    expect(listing.unmarked).toEqual([
      {id: resourceName(ex.uniqueName, 38), name: resourceName(ex.uniqueName, 38), jobId: 38},
    ])
    for (const img of [...docker.images.values()])
      if (img.tags.some((t) => t.startsWith(`hpd-job-${ex.uniqueName}-`))) docker.images.delete(img.id)
  })

  it('only unix sockets are accepted', () => {
    expect(() => executor('tcp://127.0.0.1:2375')).toThrow(/only Unix domain sockets are supported/)
  })

  it('tar round trip, including an empty archive', async () => {
    const files = {Dockerfile: 'FROM x\n', 'job.json': 'é'.repeat(700)}
    expect(Object.fromEntries(Object.entries(untar(tar(files))).map(([k, v]) => [k, v.toString()]))).toEqual(files)
    expect(untar(Buffer.alloc(1024))).toEqual({})
  })
})

describe('local-docker: API version negotiation and answers checked before they are read', () => {
  let n = 0
  async function engine(opts: {apiVersion?: string; minApiVersion?: string}) {
    const sim = new DockerSimulator(join(dir, `v${++n}.sock`), opts)
    await sim.start()
    return {sim, ex: executor(`unix://${sim.socketPath}`).executor}
  }

  it.each([
    ["older than ours: the engine's", '1.41', '1.12', '1.41'],
    ['newer than ours: ours', '1.52', '1.44', '1.47'],
    ['the oldest we support', '1.40', '1.12', '1.40'],
  ])('an engine speaking %s (engine %s, min %s → %s)', async (_what, apiVersion, minApiVersion, used) => {
    const {sim, ex} = await engine({apiVersion, minApiVersion})
    try {
      expect(await ex.listOwned({})).toEqual({owned: [], unmarked: []})
      expect(await ex.apiVersion()).toBe(used)
      await ex.decommission({id: 'hpd-job-x-1', name: 'hpd-job-x-1', weight: 1, launched: true, data: {}}, {})
      // Asked once; every call then went to the negotiated version, none was refused.
      expect(sim.counters.get('GET /version', 200)).toBe(1)
      expect(Object.keys(sim.counters.snapshot()).filter((k) => k.endsWith(' 400'))).toEqual([])
    } finally {
      await sim.stop()
    }
  })

  it('refuses an engine older than API 1.40, and one too new for us, with what to do', async () => {
    const old = await engine({apiVersion: '1.39'})
    const recent = await engine({apiVersion: '1.60', minApiVersion: '1.50'})
    try {
      await expect(old.ex.provision({id: 1, token: 'j', variables: []}, {})).rejects.toMatchObject({
        code: 'docker_api_version',
        retryable: false,
        message: expect.stringMatching(
          /speaks API 1\.39, older than 1\.40, the oldest local-docker supports: upgrade Docker/,
        ),
      })
      await expect(recent.ex.listOwned({})).rejects.toMatchObject({
        code: 'docker_api_version',
        message: expect.stringMatching(
          /accepts API 1\.50 or newer only; local-docker speaks up to 1\.47: upgrade heptapod-paas-runner/,
        ),
      })
    } finally {
      await old.sim.stop()
      await recent.sim.stop()
    }
  })

  it('a failed version answer is not kept: the next call asks again', async () => {
    const {sim, ex} = await engine({})
    try {
      sim.addFault('GET /version', {status: 500, times: 1})
      await expect(ex.listOwned({})).rejects.toMatchObject({code: 'docker_version', retryable: true})
      expect(await ex.listOwned({})).toEqual({owned: [], unmarked: []})
    } finally {
      await sim.stop()
    }
  })

  it.each([
    ['an HTML 502', {status: 502}, /cannot list images: HTTP 502/, 'docker_list'],
    [
      'a 200 that is not JSON',
      {status: 200, body: 'OK', contentType: 'text/plain'},
      /the image list is not JSON/,
      'docker_answer',
    ],
    [
      'a 200 of the wrong shape',
      {status: 200, body: '{"message": "oops"}', contentType: 'application/json'},
      /the image list is not what the Docker Engine API documents/,
      'docker_answer',
    ],
  ])('a list answered with %s is a clear, retryable error', async (_what, fault, message, code) => {
    const {sim, ex} = await engine({})
    try {
      sim.addFault('GET /images/json', {...fault, times: 1})
      await expect(ex.listOwned({})).rejects.toMatchObject({
        code,
        retryable: true,
        message: expect.stringMatching(message),
      })
    } finally {
      await sim.stop()
    }
  })

  it("an image inspection answered 500 fails the provision with the engine's message; no build is tried", async () => {
    const {sim, ex} = await engine({})
    try {
      sim.addFault('GET /images/:name/json', {status: 500, times: 1})
      await expect(ex.provision({id: 2, token: 'j', variables: []}, {})).rejects.toThrow(
        /cannot inspect the image hpd-job-\S+-2: simulated 500 \(HTTP 500\)/,
      )
      expect(sim.counters.get('POST /build')).toBe(0)
    } finally {
      await sim.stop()
    }
  })
})

describe('local-docker end to end (real CLI, GitLab and Docker API simulators)', () => {
  let child: ChildProcess | undefined
  afterAll(() => child?.kill('SIGKILL'))

  it('10 jobs finish and no container or image is left; a failed build fails only its job', async () => {
    const gitlab = new GitLabSimulator({longPollMs: 10_000})
    await gitlab.start()
    try {
      const runner = gitlab.createRunner()
      const config = join(dir, 'local.toml')
      writeFileSync(
        config,
        `concurrent = 4
check_interval = 0.2
job_progress_poll_interval = 0.5
state_file = "${join(dir, 'local-state.json')}"
[quota_computation]
  reference_runner = "local"
  reference_flavor = "M"
  reference_jobs_count = 3
[[runners]]
  name = "local"
  url = "${gitlab.url}"
  token = "${runner.token}"
  executor = "local-docker"
  [runners.docker]
    host = "unix://${socket}"
    image = "debian:bookworm"
`,
      )
      docker.failBuilds = 1
      const jobs = Array.from({length: 11}, () => gitlab.enqueueJob({durationMs: 100}))
      let out = ''
      child = spawn(process.execPath, [BIN, 'run', config], {
        cwd: REPO,
        env: {...process.env, OCLIF_SKIP_NEW_VERSION_CHECK: 'true', HEPTAPOD_PAAS_RUNNER_DATA_DIR: freshDataDir()},
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      child.stderr!.on('data', (d: Buffer) => (out += d.toString()))
      await waitUntil(
        () =>
          jobs.every((j) => ['success', 'failed'].includes(gitlab.job(j.id)!.status)) &&
          docker.images.size === 0 &&
          docker.containers.size === 0,
        60_000,
        'jobs over, nothing left',
      )
      const c = child
      c.kill('SIGTERM')
      expect(await new Promise((r) => c.once('exit', r))).toBe(0)
      const statuses = jobs.map((j) => gitlab.job(j.id)!.status)
      expect(statuses.filter((s) => s === 'success')).toHaveLength(10)
      const failed = jobs.find((j) => gitlab.job(j.id)!.status === 'failed')!
      expect(gitlab.job(failed.id)!.log.toString()).toContain('pull access denied')
      expect(out).not.toContain(runner.token)
    } finally {
      await gitlab.stop()
    }
  }, 90_000)
})

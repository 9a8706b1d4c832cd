import {spawn, type ChildProcess} from 'node:child_process'
import {existsSync, mkdtempSync, writeFileSync} from 'node:fs'
import {request} from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {abortableSleep} from '../src/cli/runtime.js'
import type {RunnerConfig} from '../src/core/config/config-types.js'
import {silentLogger} from '../src/core/logger.js'
import {executorContract} from '../src/core/testing/executor-contract.js'
import {untar} from '../src/plugins/local-docker/tar.js'
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
function executor(host = `unix://${socket}`, token = `LocalRun${++seq}-token`) {
  const runner: RunnerConfig<LocalDockerConfig> = {index: 0, url: 'http://gitlab.invalid', token, executor: 'local-docker', uniqueName: token.slice(0, 8), executorConfig: {host}, forwarded: {name: 'l', url: 'http://gitlab.invalid', token, executor: 'local-docker', docker: {image: 'debian'}}}
  return {executor: new LocalDockerExecutor(runner, {now: Date.now, sleep: abortableSleep, addSecret: () => {}, log: silentLogger}), token}
}

executorContract('local-docker (against the Docker Engine API simulator)', async () => {
  const {executor: ex, token} = executor()
  return {
    executor: ex,
    job: (id) => ({id, token: `job-${id}`, variables: [{key: 'CI_API_V4_URL', value: 'http://127.0.0.1:9/api/v4'}]}),
    secrets: [token],
    cleanup: async () => {
      for (const o of await ex.listOwned({})) await ex.decommission(o.resource, {})
    },
  }
})

describe('local-docker against the Docker API simulator', () => {
  it('builds from the same context as clever-docker, lower-cases the name, mounts the socket', async () => {
    const {executor: ex} = executor(undefined, 'MiXeDcAs-token')
    const r = await ex.provision({id: 3, token: 'j', variables: [], image: {name: 'node:22'}}, {})
    expect(r.name).toBe('hpd-job-mixedcas-3')
    const img = docker.images.get(r.name)!
    expect(Object.keys(img.files).sort()).toEqual(['Dockerfile', 'job.json', 'runner.toml'])
    expect(img.files['runner.toml']!.toString()).toContain('executor = "docker"')
    await ex.launch(r, {id: 3, token: 'j', variables: []}, {})
    expect(docker.containers.get(r.name)!.binds).toEqual([`${socket}:/var/run/docker.sock`])
    expect(await ex.decommission(r, {})).toBe('deleted')
    expect([docker.images.has(r.name), docker.containers.has(r.name)]).toEqual([false, false])
  })

  it('a build failure (pull denied) and a missing socket are errors with their reason', async () => {
    docker.failBuilds = 1
    const {executor: ex} = executor()
    await expect(ex.provision({id: 4, token: 'j', variables: []}, {})).rejects.toThrow(/docker build of hpd-job-\S+-4 failed: pull access denied/)
    const {executor: nowhere} = executor(`unix://${join(dir, 'nope.sock')}`)
    await expect(nowhere.provision({id: 5, token: 'j', variables: []}, {})).rejects.toThrow(/cannot reach the Docker engine at .*nope\.sock: no such socket/)
  })

  it('only unix sockets are accepted', () => {
    expect(() => executor('tcp://127.0.0.1:2375')).toThrow(/only Unix domain sockets are supported/)
  })

  it('tar round trip, including an empty archive', async () => {
    const {tar} = await import('../src/plugins/local-docker/tar.js')
    const files = {Dockerfile: 'FROM x\n', 'job.json': 'é'.repeat(700)}
    expect(Object.fromEntries(Object.entries(untar(tar(files))).map(([k, v]) => [k, v.toString()]))).toEqual(files)
    expect(untar(Buffer.alloc(1024))).toEqual({})
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
      writeFileSync(config, `concurrent = 4
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
`)
      docker.failBuilds = 1
      const jobs = Array.from({length: 11}, () => gitlab.enqueueJob({durationMs: 100}))
      let out = ''
      child = spawn(process.execPath, [BIN, 'run', config], {cwd: REPO, env: {...process.env, OCLIF_SKIP_NEW_VERSION_CHECK: 'true', HEPTAPOD_PAAS_RUNNER_DATA_DIR: freshDataDir()}, stdio: ['ignore', 'pipe', 'pipe']})
      child.stderr!.on('data', (d: Buffer) => (out += d.toString()))
      await waitUntil(() => jobs.every((j) => ['success', 'failed'].includes(gitlab.job(j.id)!.status)) && docker.images.size === 0 && docker.containers.size === 0, 60_000, 'jobs over, nothing left')
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

/** A real engine answers on /var/run/docker.sock (or DOCKER_HOST): not on these machines. */
async function realEngine(): Promise<string | undefined> {
  const path = (process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock').replace(/^unix:\/\//, '')
  if (!existsSync(path)) return undefined
  return new Promise((resolve) => {
    const req = request({socketPath: path, path: '/_ping', timeout: 2000}, (res) => resolve(res.statusCode === 200 ? path : undefined))
    req.on('error', () => resolve(undefined))
    req.end()
  })
}

const engine = await realEngine()
describe.skipIf(!engine)('local-docker against a real Docker engine (skipped when none answers on DOCKER_HOST or /var/run/docker.sock)', () => {
  it('lists owned resources and deletes idempotently', async () => {
    const {executor: ex} = executor(`unix://${engine}`)
    expect(await ex.listOwned({})).toEqual([])
    expect(await ex.decommission({id: 'hpd-job-none-1', name: 'hpd-job-none-1', weight: 1, launched: true, data: {}}, {})).toBe('absent')
  })
})

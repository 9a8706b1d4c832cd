/**
 * The Clever Cloud simulator's always-on rules around a job's task: the app's environment at
 * push time decides whether the job can run, and a deleted app kills its job (which then stays
 * running at GitLab, as a job whose VM vanished does).
 */
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {DOCKER_VARIANT, HEPTAPOD_VARIANT} from '../src/sim/clever/clever-catalogue.js'
import {CleverSimulator} from '../src/sim/clever/clever-simulator.js'
import {run} from '../src/sim/common/git-http-backend.js'
import {GitLabSimulator} from '../src/sim/gitlab/gitlab-simulator.js'
import {waitUntil} from './helpers/wait.js'

const ORGA = 'orga_sim'
const TOKEN = 'orga-token-1'
let gitlab: GitLabSimulator
let clever: CleverSimulator
let runnerToken: string

beforeEach(async () => {
  gitlab = new GitLabSimulator()
  gitlab.twoPhaseCommit = false
  clever = new CleverSimulator({repoReadyDelayMs: 10, jobDurationMs: 50})
  await gitlab.start()
  await clever.start()
  clever.addOrg(ORGA, {token: TOKEN})
  runnerToken = gitlab.createRunner().token
})
afterEach(async () => {
  await clever.stop()
  await gitlab.stop()
})

const api = (method: string, path: string, body?: unknown) =>
  fetch(`${clever.apiUrl}/organisations/${ORGA}${path}`, {
    method,
    headers: {authorization: `token ${TOKEN}`, ...(body === undefined ? {} : {'content-type': 'application/json'})},
    ...(body === undefined ? {} : {body: JSON.stringify(body)}),
  })

async function createApp(env: Record<string, string>, variant = HEPTAPOD_VARIANT.id): Promise<string> {
  const flavor = variant === DOCKER_VARIANT.id ? 'XS' : 'heptapod-runner-XS'
  const r = await api('POST', '/applications', {
    name: `app-${Math.random()}`,
    zone: 'par',
    deploy: 'git',
    instanceType: 'docker',
    instanceVersion: '20240315',
    instanceVariant: variant,
    instanceLifetime: 'TASK',
    minFlavor: flavor,
    maxFlavor: flavor,
    env,
  })
  expect(r.status).toBe(200)
  const app = (await r.json()) as {id: string}
  await waitUntil(() => clever.apps.get(app.id)!.repoState === 'CREATED', 5000, 'repository created')
  return app.id
}

/** Takes a job from GitLab and pushes its payload to the app, as the daemon does. */
async function launch(appId: string, spec: Parameters<GitLabSimulator['enqueueJob']>[0] = {}): Promise<number> {
  const job = gitlab.enqueueJob(spec)
  const r = await fetch(`${gitlab.url}/api/v4/jobs/request`, {
    method: 'POST',
    headers: {'content-type': 'application/json'},
    body: JSON.stringify({token: runnerToken, info: {}}),
  })
  const payload = await r.text()
  const dir = mkdtempSync(join(tmpdir(), 'cc-sim-push-'))
  writeFileSync(join(dir, 'job.json'), payload)
  writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\n')
  const env = {PATH: process.env.PATH, HOME: dir, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1'}
  await run('sh', ['-c', 'git init -q -b master && git add . && git -c user.name=t -c user.email=t@t commit -qm job'], {
    cwd: dir,
    env,
  })
  const push = await run(
    'git',
    [
      'push',
      '-q',
      `${clever.hostUrl.replace('://', `://Jenkins:${TOKEN}@`)}/git/${appId}.git`,
      'HEAD:refs/heads/master',
    ],
    {cwd: dir, env},
  )
  expect(push.code, push.stderr).toBe(0)
  return job.id
}

const final = (id: number) => gitlab.waitForJob(id, (j) => ['success', 'failed', 'canceled'].includes(j.status))

describe('Clever simulator: the job runs only on an app whose environment allows it', () => {
  it('runs the job when the app has CC_MOUNT_DOCKER_SOCKET=true and what its variant needs', async () => {
    const app = await createApp({CC_MOUNT_DOCKER_SOCKET: 'true', CC_ENABLE_HEPTAPOD_RUNNER: 'true'})
    expect((await final(await launch(app))).status).toBe('success')
    await waitUntil(() => clever.apps.get(app)!.deployments[0]!.state === 'OK', 5000, 'deployment OK')
  })

  it('fails a Docker-in-Docker job on an app without CC_MOUNT_DOCKER_SOCKET=true (runner_system_failure)', async () => {
    const app = await createApp({CC_ENABLE_HEPTAPOD_RUNNER: 'true'}, HEPTAPOD_VARIANT.id)
    const job = await final(await launch(app))
    expect(job).toMatchObject({status: 'failed', failureReason: 'runner_system_failure'})
    expect(job.log.toString()).toContain('Cannot connect to the Docker daemon')
    await waitUntil(() => clever.apps.get(app)!.deployments[0]!.state === 'FAIL', 5000, 'deployment FAIL')
  })

  it("fails the job when the variant's entry (CC_ENABLE_HEPTAPOD_RUNNER) or one the job needs (SIM_REQUIRED_ENV) is missing", async () => {
    const a = await createApp({CC_MOUNT_DOCKER_SOCKET: 'true'})
    expect(await final(await launch(a))).toMatchObject({status: 'failed', failureReason: 'runner_system_failure'})
    const b = await createApp({CC_MOUNT_DOCKER_SOCKET: 'true'}, DOCKER_VARIANT.id)
    expect((await final(await launch(b, {variables: {SIM_REQUIRED_ENV: 'CC_EXTRA=yes'}}))).log.toString()).toContain(
      'needs CC_EXTRA=yes',
    )
  })

  it('takes the environment the app had when its deployment started: setting it afterwards is too late', async () => {
    const app = await createApp({})
    const id = await launch(app, {durationMs: 300})
    await waitUntil(() => clever.apps.get(app)!.deployments.length === 1, 5000, 'deployment started')
    expect(
      (
        await api('PUT', `/applications/${app}/env`, {
          CC_MOUNT_DOCKER_SOCKET: 'true',
          CC_ENABLE_HEPTAPOD_RUNNER: 'true',
        })
      ).status,
    ).toBe(200)
    expect((await final(id)).status).toBe('failed')
    expect(clever.apps.get(app)!.pushed!.env).toEqual({})
  })
})

describe('Clever simulator: a deleted app kills its job', () => {
  it('the job stops reporting and stays running at GitLab; the kill is recorded', async () => {
    const app = await createApp({CC_MOUNT_DOCKER_SOCKET: 'true', CC_ENABLE_HEPTAPOD_RUNNER: 'true'})
    const id = await launch(app, {durationMs: 60_000})
    await gitlab.waitForJob(id, (j) => j.log.length > 0)
    const killed = new Promise<{jobId: number}>((resolve) => clever.once('job-killed', resolve))
    expect((await api('DELETE', `/applications/${app}`)).status).toBe(200)
    expect((await killed).jobId).toBe(id)
    await clever.idle()
    expect(clever.killedJobs).toEqual([expect.objectContaining({appId: app, jobId: id})])
    expect(gitlab.job(id)!.status).toBe('running')
    expect(gitlab.job(id)!.log.toString()).not.toContain('Job succeeded')
  })

  it('deleting an app whose job is over kills nothing', async () => {
    const app = await createApp({CC_MOUNT_DOCKER_SOCKET: 'true', CC_ENABLE_HEPTAPOD_RUNNER: 'true'})
    await final(await launch(app))
    await waitUntil(() => clever.apps.get(app)!.state === 'SHOULD_BE_DOWN', 5000, 'task over')
    expect((await api('DELETE', `/applications/${app}`)).status).toBe(200)
    expect(clever.killedJobs).toEqual([])
  })
})

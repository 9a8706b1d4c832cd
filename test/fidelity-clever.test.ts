/**
 * The Clever Cloud simulator driven by Clever Cloud's own clients: @clevercloud/client (its
 * request builders, HMAC-SHA512 OAuth signer and fetch sender) and clever-tools (the `clever`
 * CLI, pointed at the simulator with its documented API_HOST setting). Asserts what
 * shared/reference/clever-api.md says the service does.
 */
import {spawn} from 'node:child_process'
import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import * as application from '@clevercloud/client/esm/api/v2/application.js'
import * as organisation from '@clevercloud/client/esm/api/v2/organisation.js'
import * as product from '@clevercloud/client/esm/api/v2/product.js'
import * as user from '@clevercloud/client/esm/api/v2/user.js'
import {addOauthHeader} from '@clevercloud/client/esm/oauth.js'
import {prefixUrl} from '@clevercloud/client/esm/prefix-url.js'
import {request} from '@clevercloud/client/esm/request.fetch.js'
import {addOauthHeaderPlaintext} from 'clever-tools/src/clever-client/auth-bridge.js'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {HEPTAPOD_VARIANT} from '../src/sim/clever/clever-catalogue.js'
import {CleverSimulator} from '../src/sim/clever/clever-simulator.js'
import {run} from '../src/sim/common/git-http-backend.js'
import {REPO} from './helpers/cli.js'
import {waitUntil} from './helpers/wait.js'

const ORGA = 'orga_3f0c2a51-7d4e-4b8a-9c1d-2e6f8a0b4c7d'
const OTHER = 'orga_9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d'
const OAUTH = {
  consumerKey: 'consumer-key-1',
  consumerSecret: 'consumer-secret-1',
  token: 'oauth-token-1',
  tokenSecret: 'oauth-token-secret-1',
}
const TOKENS = {
  OAUTH_CONSUMER_KEY: OAUTH.consumerKey,
  OAUTH_CONSUMER_SECRET: OAUTH.consumerSecret,
  API_OAUTH_TOKEN: OAUTH.token,
  API_OAUTH_TOKEN_SECRET: OAUTH.tokenSecret,
}

const sim = new CleverSimulator({innerRunner: false, repoReadyDelayMs: 50})
beforeAll(async () => {
  await sim.start()
  sim.addOrg(ORGA, {oauth: OAUTH}, {name: 'Fidelity'})
  sim.addOrg(OTHER, {token: 'other-orga-token'})
})
afterAll(async () => {
  await sim.stop()
})

type Params = Promise<Record<string, unknown>>
/** Sends request params built by @clevercloud/client, signed HMAC-SHA512 by its own signer (the default). */
const send = <T = any>(params: Params, tokens: Record<string, string> = TOKENS): Promise<T> =>
  params.then(prefixUrl(sim.hostUrl)).then(addOauthHeader(tokens)).then(request) as Promise<T>
/** The same, signed PLAINTEXT as clever-tools does for the API bridge. */
const sendPlain = <T = any>(params: Params): Promise<T> =>
  params.then(prefixUrl(sim.hostUrl)).then(addOauthHeaderPlaintext(TOKENS)).then(request) as Promise<T>
/** The status and Clever error id of a refused call. */
async function refusal(p: Promise<unknown>): Promise<{status: number; id?: number; fields?: Record<string, string>}> {
  try {
    await p
  } catch (error) {
    const e = error as {response?: Response; id?: number; responseBody?: {fields?: Record<string, string>}}
    if (!e.response) throw error
    return {
      status: e.response.status,
      ...(e.id === undefined ? {} : {id: e.id}),
      ...(e.responseBody?.fields ? {fields: e.responseBody.fields} : {}),
    }
  }
  throw new Error('the call succeeded')
}

/** The original's create body (clever-api.md §3.1, "known-good minimal body"). */
function body(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'ci-job-fidelity-1',
    description: 'ci-job-fidelity-1 (runner r1)',
    zone: 'par',
    deploy: 'git',
    instanceType: 'docker',
    instanceVersion: '20240315',
    instanceVariant: HEPTAPOD_VARIANT.id,
    instanceLifetime: 'TASK',
    minInstances: 1,
    maxInstances: 1,
    minFlavor: 'heptapod-runner-M',
    maxFlavor: 'heptapod-runner-M',
    tags: ['ci-runner', 'runner-r1'],
    env: {CC_MOUNT_DOCKER_SOCKET: 'true'},
    ...extra,
  }
}

async function gitPush(appId: string, user: string, password: string): Promise<{code: number; stderr: string}> {
  const dir = mkdtempSync(join(tmpdir(), 'cc-fidelity-git-'))
  const env = {PATH: process.env.PATH, HOME: dir, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1'}
  await run('git', ['init', '-q', '-b', 'master', dir], {env})
  await run(
    'sh',
    [
      '-c',
      'echo "FROM alpine" > Dockerfile && echo "{}" > job.json && git add . && git -c user.name=t -c user.email=t@t commit -qm job',
    ],
    {cwd: dir, env},
  )
  const url = `${sim.hostUrl.replace('://', `://${encodeURIComponent(user)}:${encodeURIComponent(password)}@`)}/git/${appId}.git`
  const r = await run('git', ['push', '-q', url, 'HEAD:refs/heads/master'], {cwd: dir, env})
  return {code: r.code, stderr: r.stderr}
}

describe('Clever Cloud simulator, driven by @clevercloud/client', () => {
  it("authenticates OAuth1 HMAC-SHA512 (the client's signer) and PLAINTEXT; refuses a bad secret and a replayed nonce", async () => {
    const self = await send(organisation.get({}))
    expect(self).toMatchObject({id: expect.stringMatching(/^user_[0-9a-f-]{36}$/), email: expect.any(String)})
    expect((await sendPlain(organisation.get({}))).id).toBe(self.id)
    expect(await refusal(send(organisation.get({}), {...TOKENS, API_OAUTH_TOKEN_SECRET: 'wrong'}))).toMatchObject({
      status: 401,
    })
    // A signed request replayed as is (same nonce and timestamp) is refused.
    const signed = await organisation.get({}).then(prefixUrl(sim.hostUrl)).then(addOauthHeader(TOKENS))
    expect((await fetch(signed.url, {headers: signed.headers})).status).toBe(200)
    expect((await fetch(signed.url, {headers: signed.headers})).status).toBe(401)
  })

  it('serves the identity calls: /self, /organisations (personal space first), /organisations/{id}, /summary', async () => {
    const orgs = await send<Array<{id: string}>>(organisation.getAll())
    expect(orgs.map((o) => o.id)).toEqual([expect.stringMatching(/^user_/), ORGA])
    expect(await send(organisation.get({id: ORGA}))).toMatchObject({id: ORGA, name: 'Fidelity'})
    // Someone else's organisation: authenticated, not allowed.
    expect(await refusal(send(organisation.get({id: OTHER})))).toEqual({status: 403, id: 1002})
    const summary = await send(user.getSummary({}))
    expect(summary).toMatchObject({
      user: {id: expect.stringMatching(/^user_/)},
      organisations: [{id: ORGA, role: 'ADMIN', applications: []}],
    })
  })

  it('lists the Docker runtime as the catalogue does: enabled, git deployments, a UUID variant, flavors in MiB', async () => {
    const runtimes = await send<Array<Record<string, any>>>(product.getAvailableInstances({}))
    const docker = runtimes
      .filter((r) => r.variant.slug === 'docker')
      .sort((a, b) => (a.version < b.version ? 1 : -1))[0]!
    expect(docker).toMatchObject({
      type: 'docker',
      name: 'Docker',
      enabled: true,
      deployments: ['git'],
      variant: {id: expect.stringMatching(/^[0-9a-f-]{36}$/)},
      defaultFlavor: {name: 'XS'},
    })
    expect(docker.flavors.find((f: {name: string}) => f.name === 'M')).toMatchObject({
      mem: 4096,
      cpus: 4,
      memory: {unit: 'B', value: 4096 * 1048576},
    })
    // The private heptapod-runner variant is not in the public catalogue.
    expect(runtimes.some((r) => r.variant.id === HEPTAPOD_VARIANT.id)).toBe(false)
  })

  it("creates an app from the original's body: Application object with the variant, TASK lifetime, env, description as given; tags readable", async () => {
    const app = await send(application.create({id: ORGA}, body()))
    expect(app).toMatchObject({
      id: expect.stringMatching(/^app_[0-9a-f-]{36}$/),
      ownerId: ORGA,
      name: 'ci-job-fidelity-1',
      description: 'ci-job-fidelity-1 (runner r1)',
      zone: 'par',
      instance: {
        type: 'docker',
        version: '20240315',
        variant: {id: HEPTAPOD_VARIANT.id},
        lifetime: 'TASK',
        maxFlavor: {name: 'heptapod-runner-M', mem: 8192},
      },
      deployment: {
        type: 'GIT',
        repoState: 'CREATING',
        httpUrl: expect.stringContaining(`/${(app as {id: string}).id ?? ''}`),
      },
      state: 'SHOULD_BE_DOWN',
      env: [{name: 'CC_MOUNT_DOCKER_SOCKET', value: 'true'}],
    })
    expect(app).not.toHaveProperty('tags')
    expect(await send(application.getAllTags({id: ORGA, appId: app.id}))).toEqual(['ci-runner', 'runner-r1'])
    const summary = await send(user.getSummary({}))
    expect(summary.organisations[0].applications).toEqual([
      expect.objectContaining({id: app.id, customerTags: ['ci-runner', 'runner-r1'], variantSlug: 'heptapod-runner'}),
    ])
    await send(application.remove({id: ORGA, appId: app.id}))
  })

  it.each([
    ['an unknown zone', {zone: 'mars'}, 400, 4001, 'zone'],
    ['a variant that is not a UUID', {instanceVariant: 'heptapod'}, 400, 4001, 'instanceVariant'],
    ['an empty name', {name: '  '}, 400, 4001, 'name'],
    ['deploy "ftp"', {deploy: 'ftp'}, 400, 4001, 'deploy'],
    ["a flavor outside the variant's context", {minFlavor: 'M', maxFlavor: 'M'}, 400, 4028, 'maxFlavor'],
    [
      'an unavailable flavor',
      {minFlavor: 'heptapod-runner-4XL', maxFlavor: 'heptapod-runner-4XL'},
      400,
      4028,
      'maxFlavor',
    ],
    ['an unknown instance version', {instanceVersion: '19990101'}, 400, 9017, undefined],
    ['an unknown variant UUID', {instanceVariant: '00000000-0000-4000-8000-000000000000'}, 400, 9017, undefined],
    ['a bad lifetime', {instanceLifetime: 'FOREVER'}, 400, 4001, 'instanceLifetime'],
  ])('refuses a create with %s', async (_what, extra, status, id, field) => {
    const r = await refusal(send(application.create({id: ORGA}, body(extra))))
    expect(r).toMatchObject({status, id})
    if (field) expect(Object.keys(r.fields ?? {})).toContain(field)
    expect(sim.appsOf(ORGA)).toEqual([])
  })

  it('refuses a form-encoded body (the API takes JSON only)', async () => {
    const params = application.create({id: ORGA}, body()).then((p: Record<string, any>) => ({
      ...p,
      headers: {...p.headers, 'Content-Type': 'application/x-www-form-urlencoded'},
      body: Object.fromEntries(Object.entries(body()).map(([k, v]) => [k, String(v)])),
    }))
    expect(await refusal(send(params))).toMatchObject({status: 415})
    expect(sim.appsOf(ORGA)).toEqual([])
  })

  it('environment: bulk PUT replaces all, per-variable PUT/DELETE, invalid names answer 557 with fields', async () => {
    const app = await send(application.create({id: ORGA}, body({env: {A: '1'}})))
    await send(application.updateAllEnvVars({id: ORGA, appId: app.id}, {CC_MOUNT_DOCKER_SOCKET: 'true', B: '2'}))
    await send(application.updateEnvVar({id: ORGA, appId: app.id, envName: 'C'}, {value: '3'}))
    await send(application.removeEnvVar({id: ORGA, appId: app.id, envName: 'B'}))
    expect(await send(application.getAllEnvVars({id: ORGA, appId: app.id}))).toEqual([
      {name: 'CC_MOUNT_DOCKER_SOCKET', value: 'true'},
      {name: 'C', value: '3'},
    ])
    expect(await refusal(send(application.updateAllEnvVars({id: ORGA, appId: app.id}, {'BAD NAME': 'x'})))).toEqual({
      status: 400,
      id: 557,
      fields: {'BAD NAME': 'invalid name'},
    })
    await send(application.remove({id: ORGA, appId: app.id}))
  })

  it('tags: PUT/DELETE one tag and PUT the whole list answer the full list', async () => {
    const app = await send(application.create({id: ORGA}, body({tags: []})))
    expect(await send(application.updateTag({id: ORGA, appId: app.id, tag: 'ci-runner'}))).toEqual(['ci-runner'])
    expect(await send(organisation.updateApplicationTags({id: ORGA, appId: app.id}, ['a', 'b']))).toEqual(['a', 'b'])
    expect(await send(application.removeTag({id: ORGA, appId: app.id, tag: 'a'}))).toEqual(['b'])
    await send(application.remove({id: ORGA, appId: app.id}))
  })

  it("git: no repository before CREATED; Clever's credentials only; a push starts a deployment; redeploy, cancel, delete", async () => {
    sim.stuckRepos = 1
    const app = await send(application.create({id: ORGA}, body()))
    expect((await gitPush(app.id, OAUTH.token, OAUTH.tokenSecret)).stderr).toMatch(/not found|404/i)
    sim.apps.get(app.id)!.repoState = 'CREATED'
    await waitUntil(
      async () => (await send(application.get({id: ORGA, appId: app.id}))).deployment.repoState === 'CREATED',
      5000,
      'repository created',
    )
    // Wrong user for the OAuth secret, another organisation's credentials: refused.
    expect((await gitPush(app.id, 'Jenkins', OAUTH.tokenSecret)).code).not.toBe(0)
    expect((await gitPush(app.id, 'Jenkins', 'other-orga-token')).code).not.toBe(0)
    expect(await gitPush(app.id, OAUTH.token, OAUTH.tokenSecret)).toMatchObject({code: 0})
    // The deployment shows up shortly after the push, as clever-tools expects (it polls for it).
    let d: Record<string, any> | undefined
    await waitUntil(
      async () =>
        (d = (await send<Array<Record<string, any>>>(application.getAllDeployments({id: ORGA, appId: app.id})))[0]) !==
        undefined,
      5000,
      'deployment listed',
    )
    expect(d).toMatchObject({
      id: 1,
      uuid: expect.stringMatching(/^deployment_/),
      action: 'DEPLOY',
      state: 'TASK_RUNNING',
      cause: 'git push',
      commit: expect.stringMatching(/^[0-9a-f]{40}$/),
    })
    expect(await send(application.getAllInstances({id: ORGA, appId: app.id}))).toEqual([
      expect.objectContaining({state: 'TASK_IN_PROGRESS', deployId: d!.uuid}),
    ])
    // Cancel the running deployment, then run the task again (query parameters are in the HMAC base string).
    await send(application.cancelDeployment({id: ORGA, appId: app.id, deploymentId: d!.uuid}))
    expect((await send(application.getDeployment({id: ORGA, appId: app.id, deploymentId: d!.uuid}))).state).toBe(
      'CANCELLED',
    )
    const again = await send(application.redeploy({id: ORGA, appId: app.id, commit: d!.commit, useCache: 'no'}))
    expect(again).toMatchObject({type: 'success', deploymentId: expect.stringMatching(/^deployment_/)})
    await send(application.undeploy({id: ORGA, appId: app.id}))
    expect(await send(application.remove({id: ORGA, appId: app.id}))).toEqual({
      id: 302,
      message: 'deleted',
      type: 'success',
    })
    expect(await refusal(send(application.get({id: ORGA, appId: app.id})))).toEqual({status: 404, id: 4004})
    expect((await gitPush(app.id, OAUTH.token, OAUTH.tokenSecret)).code).not.toBe(0)
  })

  it('fault switches are off by default, and each does what Clever does now and then', async () => {
    expect([sim.ghostCreates, sim.listLagMs, sim.lingerMs, sim.stuckRepos, sim.refusePushes]).toEqual([0, 0, 0, 0, 0])
    // 429 with Retry-After.
    sim.rateLimit({times: 1, retryAfterSec: 3, endpoint: 'GET /organisations/:orga/applications'})
    const limited = await application.getAll({id: ORGA}).then(prefixUrl(sim.hostUrl)).then(addOauthHeader(TOKENS))
    const r = await fetch(limited.url, {headers: limited.headers})
    expect([r.status, r.headers.get('retry-after')]).toEqual([429, '3'])
    // Ghost create: answered 5xx, created anyway.
    sim.ghostCreates = 1
    expect(await refusal(send(application.create({id: ORGA}, body({name: 'ghost'}))))).toMatchObject({status: 504})
    expect((await send<Array<{name: string}>>(application.getAll({id: ORGA}))).map((a) => a.name)).toEqual(['ghost'])
    // List lag: a new app is missing from the list for a while (GET by id works).
    sim.listLagMs = 60_000
    const young = await send(application.create({id: ORGA}, body({name: 'young'})))
    expect((await send<Array<{name: string}>>(application.getAll({id: ORGA}))).map((a) => a.name)).toEqual([])
    expect((await send(application.get({id: ORGA, appId: young.id}))).name).toBe('young')
    sim.listLagMs = 0
    // Linger: a deleted app still shows in the list for a while.
    sim.lingerMs = 60_000
    await send(application.remove({id: ORGA, appId: young.id}))
    expect((await send<Array<{name: string}>>(application.getAll({id: ORGA}))).map((a) => a.name).sort()).toEqual([
      'ghost',
      'young',
    ])
    expect(await refusal(send(application.get({id: ORGA, appId: young.id})))).toEqual({status: 404, id: 4004})
    sim.lingerMs = 0
    sim.lingering.clear()
    for (const a of sim.appsOf(ORGA)) await send(application.remove({id: ORGA, appId: a.id}))
  })
})

/** Runs the `clever` CLI of clever-tools against the simulator (API_HOST, CLEVER_TOKEN/SECRET, OAUTH_CONSUMER_*). */
function clever(args: string[], cwd: string): Promise<{code: number | null; out: string}> {
  return new Promise((resolve) => {
    const env = {
      PATH: process.env.PATH,
      HOME: cwd,
      XDG_CONFIG_HOME: join(cwd, '.config'),
      NO_UPDATE_NOTIFIER: '1',
      NO_COLOR: '1',
      API_HOST: sim.hostUrl,
      CLEVER_TOKEN: OAUTH.token,
      CLEVER_SECRET: OAUTH.tokenSecret,
      OAUTH_CONSUMER_KEY: OAUTH.consumerKey,
      OAUTH_CONSUMER_SECRET: OAUTH.consumerSecret,
    }
    const child = spawn(process.execPath, [join(REPO, 'node_modules/clever-tools/bin/clever.js'), ...args], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (out += d.toString()))
    child.on('close', (code) => resolve({code, out}))
  })
}

describe('Clever Cloud simulator, driven by clever-tools (the `clever` CLI, API_HOST pointed at it)', () => {
  it('profile, create --task (its own create body passes the strict validation), env set, env, status', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'cc-tools-'))
    const profile = await clever(['profile'], cwd)
    expect(profile.code, profile.out).toBe(0)
    expect(profile.out).toMatch(/User id\s+user_/)
    const created = await clever(
      ['create', '--type', 'docker', 'tools-app', '--org', ORGA, '--region', 'par', '--task', 'true'],
      cwd,
    )
    expect(created.code, created.out).toBe(0)
    const app = sim.appsOf(ORGA).find((a) => a.name === 'tools-app')!
    expect(app).toMatchObject({
      lifetime: 'TASK',
      zone: 'par',
      env: {CC_RUN_COMMAND: 'true'},
      rule: {variant: {slug: 'docker'}},
    })
    expect((await clever(['env', 'set', 'CC_MOUNT_DOCKER_SOCKET', 'true'], cwd)).code).toBe(0)
    const env = await clever(['env'], cwd)
    expect(env.out).toContain('CC_MOUNT_DOCKER_SOCKET="true"')
    const status = await clever(['status'], cwd)
    expect([status.code, status.out]).toEqual([0, expect.stringContaining('tools-app: stopped')])
    await send(application.remove({id: ORGA, appId: app.id}))
  }, 60_000)

  // clever-tools pushes with isomorphic-git over its own https agent, which refuses http:// URLs,
  // and the simulator's git server is plain http on 127.0.0.1 (no certificate to trust): its push
  // path is covered by the git tests above with the same credentials (OAuth token and secret).
  it("deploy cannot work against the simulator: clever-tools' git transport is https-only, the simulator serves git over http", async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'cc-tools-'))
    expect(
      (
        await clever(
          ['create', '--type', 'docker', 'tools-deploy', '--org', ORGA, '--region', 'par', '--task', 'true'],
          cwd,
        )
      ).code,
    ).toBe(0)
    const env = {PATH: process.env.PATH, HOME: cwd, GIT_CONFIG_NOSYSTEM: '1'}
    await run(
      'sh',
      [
        '-c',
        'git init -q -b master && echo "FROM alpine" > Dockerfile && git add . && git -c user.name=t -c user.email=t@t commit -qm job',
      ],
      {cwd, env},
    )
    const deploy = await clever(['deploy'], cwd)
    expect([deploy.code, deploy.out]).toEqual([
      1,
      expect.stringContaining('Protocol "http:" not supported. Expected "https:"'),
    ])
    for (const a of sim.appsOf(ORGA)) await send(application.remove({id: ORGA, appId: a.id}))
  }, 60_000)
})

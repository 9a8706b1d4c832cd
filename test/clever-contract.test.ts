import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {UndiciHttpClient} from '../src/adapters/http/undici-http-client.js'
import {abortableSleep} from '../src/app/runtime.js'
import type {RunnerConfig} from '../src/core/config/config-types.js'
import {silentLogger} from '../src/core/logger.js'
import {executorContract} from '../src/core/testing/executor-contract.js'
import {authorizationHeader} from '../src/plugins/clever-docker/clever-client.js'
import {cleverConfigSchema, type CleverConfig} from '../src/plugins/clever-docker/clever-config.js'
import {CleverDockerExecutor} from '../src/plugins/clever-docker/clever-executor.js'
import {CleverSimulator} from '../src/sim/clever/clever-simulator.js'
import {shortToken} from '../src/core/identity/short-token.js'

const sim = new CleverSimulator({innerRunner: false})
beforeAll(async () => {
  await sim.start()
  sim.addOrg('orga_contract', {token: 'cc-contract-token-1'})
  // Secrets with characters that percent-encoding changes: the signature is encoded twice, as Clever documents.
  sim.addOrg('orga_oauth', {
    oauth: {consumerKey: 'ck', consumerSecret: 'cs+secret/1', token: 'oauth-token', tokenSecret: 'ts secret&2'},
  })
  sim.addOrg('orga_bearer', {bearer: 'api-token-bearer-1'})
})
afterAll(async () => {
  await sim.stop()
})

let seq = 0
function executor(
  extra: Partial<Record<string, unknown>> = {},
  systemId = 'r_contract',
): {executor: CleverDockerExecutor; token: string; other(): CleverDockerExecutor; restarted(): CleverDockerExecutor} {
  const token = `contract${++seq}-runner-token`
  const cfg = cleverConfigSchema.parse({
    cc_api_url: sim.apiUrl,
    cc_orga_id: 'orga_contract',
    cc_token: 'cc-contract-token-1',
    cc_deployment_repo_wait_step: 0.02,
    ...extra,
  })
  const runner: RunnerConfig<CleverConfig> = {
    index: 0,
    url: 'http://gitlab.invalid',
    token,
    executor: 'clever-docker',
    uniqueName: shortToken(token),
    executorConfig: cfg,
    forwarded: {name: 'c', url: 'http://gitlab.invalid', token, executor: 'clever-docker'},
  }
  const deps = {
    now: Date.now,
    sleep: abortableSleep,
    addSecret: () => {},
    log: silentLogger,
    http: new UndiciHttpClient(),
    owner: {systemId, runner: runner.uniqueName},
  }
  return {
    executor: new CleverDockerExecutor(runner, deps),
    token,
    other: () =>
      new CleverDockerExecutor(runner, {...deps, owner: {systemId: 'r_otherdaemon', runner: runner.uniqueName}}),
    restarted: () => new CleverDockerExecutor(runner, deps),
  }
}

executorContract('clever-docker (against the Clever Cloud simulator)', async () => {
  const {executor: ex, token, other} = executor()
  return {
    executor: ex,
    job: (id) => ({
      id,
      token: `job-${id}`,
      variables: [
        {key: 'CI_CLEVER_CLOUD_FLAVOR', value: 'XS'},
        {key: 'CI_API_V4_URL', value: 'http://gitlab.invalid/api/v4'},
      ],
    }),
    secrets: [token, 'cc-contract-token-1'],
    otherDaemon: async () => other(),
    cleanup: async () => {
      for (const o of (await ex.listOwned({})).owned) await ex.decommission(o.resource, {})
    },
  }
})

describe('clever-docker against the simulator', () => {
  it('weighs flavors from the heptapod-runner context (unavailable ones dropped)', async () => {
    const f = await executor().executor.flavors()
    expect([...f.keys()]).toEqual(['XS', 'S', 'M', 'L', 'XL', '2XL', '3XL'])
    expect(f.get('M')!.ramMiB).toBe(8192)
  })

  it('creates the app with the original body and sets its environment', async () => {
    const {executor: ex, token} = executor({cc_extra_env: {CC_ENABLE_HEPTAPOD_RUNNER: 'true'}})
    const r = await ex.provision({id: 77, token: 'j', variables: [{key: 'CI_CLEVER_CLOUD_FLAVOR', value: 'S'}]}, {})
    const app = sim.apps.get(r.id)!
    expect(app).toMatchObject({
      name: `hpd-job-${shortToken(token)}-77`,
      lifetime: 'TASK',
      instanceVersion: '20240315',
      flavor: {name: 'heptapod-runner-S'},
    })
    expect(app.env).toEqual({CC_MOUNT_DOCKER_SOCKET: 'true', CC_ENABLE_HEPTAPOD_RUNNER: 'true'})
    expect(r.weight).toBeCloseTo(4 ** 1.25, 9)
    await ex.decommission(r, {})
  })

  it('authenticates with OAuth1 PLAINTEXT and with a Bearer API token', async () => {
    expect(
      authorizationHeader({scheme: 'oauth1', consumerKey: 'ck', consumerSecret: 'cs', token: 't', tokenSecret: 'ts'}),
    ).toBe(
      'OAuth oauth_consumer_key="ck", oauth_token="t", oauth_signature_method="PLAINTEXT", oauth_signature="cs%26ts"',
    )
    const o = executor({
      cc_orga_id: 'orga_oauth',
      cc_token: 'oauth-token',
      cc_auth_scheme: 'oauth1',
      cc_oauth_consumer_key: 'ck',
      cc_oauth_consumer_secret: 'cs+secret/1',
      cc_oauth_token_secret: 'ts secret&2',
    }).executor
    const r = await o.provision({id: 5, token: 'j', variables: [{key: 'CI_CLEVER_CLOUD_FLAVOR', value: 'XS'}]}, {})
    expect(await o.decommission(r, {})).toBe('deleted')
    const b = executor({cc_orga_id: 'orga_bearer', cc_token: 'api-token-bearer-1', cc_auth_scheme: 'bearer'}).executor
    expect(await b.listOwned({})).toEqual({owned: [], unmarked: []})
    const wrong = executor({cc_orga_id: 'orga_bearer', cc_token: 'cc-contract-token-1'}).executor
    await expect(wrong.listOwned({})).rejects.toThrow(/HTTP 403, error 1002/)
  })

  it('refreshes the Docker version when creation answers 9017', async () => {
    const {executor: ex} = executor()
    await ex.provision({id: 9, token: 'j', variables: []}, {}).then((r) => ex.decommission(r, {}))
    sim.instanceVersions = ['20250101']
    const r = await ex.provision({id: 10, token: 'j', variables: []}, {})
    expect(sim.apps.get(r.id)!.instanceVersion).toBe('20250101')
    await ex.decommission(r, {})
    sim.instanceVersions = ['20231010', '20240315']
  })

  it('delete: 404 / 4004 is absent, 5xx and 429 are retried', async () => {
    const {executor: ex} = executor()
    const r = await ex.provision({id: 11, token: 'j', variables: []}, {})
    sim.addFault('DELETE /organisations/:orga/applications/:app', {status: 503, times: 2})
    sim.addFault('DELETE /organisations/:orga/applications/:app', {
      status: 429,
      times: 1,
      headers: {'retry-after': '0'},
    })
    expect(await ex.decommission(r, {})).toBe('deleted')
    expect(await ex.decommission(r, {})).toBe('absent')
  })

  it('restores a resource dumped by the original', async () => {
    const {executor: ex} = executor()
    const r = ex.restore({
      id: 'app_x',
      gitlab_namespace: null,
      weight: 13.45,
      launched: true,
      deploy_url: 'https://push/app_x.git',
    })
    expect(r).toMatchObject({id: 'app_x', weight: 13.45, launched: true, data: {deployUrl: 'https://push/app_x.git'}})
  })

  it('lists the organisation once for a burst of provisions; restarted, it finds the app made before the crash', async () => {
    const {executor: ex, restarted} = executor()
    const listings = (): number => sim.counters.get('GET /organisations/:orga/applications')
    const job = (id: number) => ({id, token: `job-${id}`, variables: [{key: 'CI_CLEVER_CLOUD_FLAVOR', value: 'XS'}]})
    const before = listings()
    const made = await Promise.all([1, 2, 3, 4, 5].map((i) => ex.provision(job(7000 + i), {})))
    expect(listings() - before).toBe(1)
    // Idempotent in the same process without listing again: its own create is known.
    expect((await ex.provision(job(7001), {})).id).toBe(made[0]!.id)
    expect(listings() - before).toBe(1)
    // A new process (same system id) resumes a job whose create happened before the crash.
    const again = restarted()
    expect((await again.provision(job(7003), {})).id).toBe(made[2]!.id)
    expect(listings() - before).toBe(2)
    expect([...sim.apps.values()].filter((a) => a.name.endsWith('-7003'))).toHaveLength(1)
    for (const r of made) await ex.decommission(r, {})
  })

  it('a launch again after a crash (master pushed, not recorded) leaves master alone and warns', async () => {
    const warnings: string[] = []
    const {executor: ex} = executor()
    // This executor's own deps object: its logger records the warnings.
    const deps = (ex as unknown as {deps: {log: typeof silentLogger}}).deps
    deps.log = {...silentLogger, warn: (m: string) => void warnings.push(m)}
    const job = {id: 4242, token: 'job-4242', variables: [{key: 'CI_CLEVER_CLOUD_FLAVOR', value: 'XS'}]}
    const pushes: string[] = []
    const onPush = (app: {id: string; pushed: {sha: string}}): void => void pushes.push(app.pushed.sha)
    sim.on('push', onPush)
    try {
      const r = await ex.provision(job, {})
      const first = await ex.launch(r, job, {})
      // The record of the first launch was lost: the daemon launches the same resource again.
      const again = await ex.launch({...first, launched: false}, job, {})
      expect(again.launched).toBe(true)
      expect(pushes).toHaveLength(1)
      expect(warnings.join('\n')).toContain('the deployment branch already exists')
      await ex.decommission(r, {})
    } finally {
      sim.off('push', onPush)
    }
  })
})

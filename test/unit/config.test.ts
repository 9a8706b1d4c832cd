import {readFileSync} from 'node:fs'

import {describe, expect, it} from 'vitest'

import {parseConfig} from '../../src/core/config/parse-config.js'
import {ConfigError} from '../../src/core/errors.js'
import {BAD_CONFIGS, BASE, TOKEN, WATCH_TOKEN} from '../helpers/bad-configs.js'
import {testExecutors} from '../helpers/executors.js'

function parse(text: string) {
  return parseConfig(text, {file: 'cfg.toml', executors: testExecutors, defaultStateFile: '/default/state.json'})
}

function configError(text: string): ConfigError {
  try {
    parse(text)
  } catch (error) {
    if (error instanceof ConfigError) return error
    throw error
  }
  throw new Error('expected a ConfigError')
}

describe('bad configurations', () => {
  it.each(BAD_CONFIGS)('$name', ({toml, expect: re, line}) => {
    const err = configError(toml)
    const matching = err.message.split('\n').filter((l) => re.test(l))
    expect(matching, err.message).toHaveLength(1)
    if (line !== undefined) expect(matching[0]).toMatch(new RegExp(`^cfg\\.toml:${line}(:\\d+)?: `))
    for (const secret of [TOKEN, WATCH_TOKEN, 'hunter2hunter2', 'cc-secret-token-123'])
      expect(err.message).not.toContain(secret)
  })

  it('reports every problem at once', () => {
    const err = configError(
      BASE.replace('concurrent = 20', 'concurrent = 0').replace('executor = "memory"', 'executor = "x"'),
    )
    expect(err.issues.map((i) => i.path).sort()).toEqual(['concurrent', 'runners[0].executor'])
  })
})

describe('good configurations', () => {
  it('applies the defaults of the original', () => {
    const c = parse(BASE.replace('concurrent = 20\nstate_file = "/tmp/state.json"\n', ''))
    expect(c).toMatchObject({
      concurrent: 50,
      checkInterval: 3,
      jobProgressPollInterval: 30,
      maxConcurrentProvisioning: 10,
      finishedJobsKeepResources: false,
      decommissionLaunchFailures: true,
      orphanGracePeriod: 600,
      stateFile: '/default/state.json',
      logLevel: 'info',
      quotaComputation: {referenceRunner: 'mem', referenceFlavor: 'M', referenceJobsCount: 4},
    })
    expect(c.listenAddress).toBeUndefined()
    expect(c.runners[0]).toMatchObject({
      name: 'mem',
      uniqueName: 'SeCrEtRuN', // the 9 characters after glrt-, as GitLab shows it
      traceWatch: {token: WATCH_TOKEN, timeoutSeconds: 300, pollStep: 10},
      executorConfig: {memory_cloud: 'default', memory_default_flavor: 'M'},
    })
    expect(c.warnings).toEqual([])
  })

  it('accepts the spellings of the original README, with deprecation warnings', () => {
    const text = `job_progress_interval = 45\npass_decommision_launched_failures = false\n${BASE.replace(/\[runners\.paas_job_trace_watch\][^\n]*\n[^\n]*\n/, '')}  [runners.job_trace_watch]\n    token = "${WATCH_TOKEN}"\n    timout_seconds = 60\n`
    const c = parse(text)
    expect(c.jobProgressPollInterval).toBe(45)
    expect(c.decommissionLaunchFailures).toBe(false)
    expect(c.runners[0]!.traceWatch).toEqual({token: WATCH_TOKEN, timeoutSeconds: 60, pollStep: 10})
    expect(c.warnings.map((w) => w.path).sort()).toEqual([
      'job_progress_interval',
      'pass_decommision_launched_failures',
      'runners[0].job_trace_watch',
      'runners[0].paas_job_trace_watch.timout_seconds',
    ])
    expect(c.warnings.find((w) => w.path === 'job_progress_interval')).toMatchObject({
      line: 1,
      message: expect.stringContaining("write 'job_progress_poll_interval' instead"),
    })
  })

  it('applies a top-level [job_trace_watch] (as the README shows it) to runners without their own', () => {
    const text = `${BASE.replace(/\[runners\.paas_job_trace_watch\][^\n]*\n[^\n]*\n/, '')}\n[job_trace_watch]\n  token = "${WATCH_TOKEN}"\n  timout_seconds = 120\n  poll_step = 5\n`
    const c = parse(text)
    expect(c.runners[0]!.traceWatch).toEqual({token: WATCH_TOKEN, timeoutSeconds: 120, pollStep: 5})
    expect(c.warnings.map((w) => w.path)).toContain('job_trace_watch')
  })

  it('warns about unknown keys with a did-you-mean hint, and loads anyway', () => {
    const c = parse(
      `concurent = 3\n${BASE.replace('executor = "memory"', 'executor = "memory"\n  memory_max_flavour = "L"')}`,
    )
    expect(c.warnings).toEqual([
      {path: 'concurent', message: "unknown key, ignored; did you mean 'concurrent'?", line: 1},
      {
        path: 'runners[0].memory_max_flavour',
        message: "unknown key (executor memory), ignored; did you mean 'memory_max_flavor'?",
        line: 15,
      },
    ])
  })

  it('keeps standard GitLab Runner sections intact for the inner runner, without PAAS keys', () => {
    const c = parse(readFileSync('test/fixtures/config/seed-single-orga.toml', 'utf8'))
    const r = c.runners[0]!
    expect(r.forwarded).toMatchObject({
      name: 'clever-cloud',
      url: 'https://heptapod.example.com',
      executor: 'clever-docker',
      custom_build_dir: {},
      cache: {s3: {ServerAddress: 'cellar-c2.services.clever-cloud.com', BucketName: 'heptapod-ci'}, gcs: {}},
      docker: {image: 'debian:bullseye', volumes: ['/cache'], shm_size: 0, tls_verify: false},
    })
    expect(Object.keys(r.forwarded).filter((k) => k.startsWith('cc_') || k.startsWith('paas_'))).toEqual([])
  })

  it('loads the single-organisation example of the seed README unchanged', () => {
    const c = parse(readFileSync('test/fixtures/config/seed-single-orga.toml', 'utf8'))
    expect(c.warnings).toEqual([])
    expect(c.stateFile).toBe('/srv/heptapod-runner/paas-runner-state.json')
    expect(c.quotaComputation).toEqual({referenceRunner: 'clever-cloud', referenceFlavor: '3XL', referenceJobsCount: 8})
    expect(c.runners[0]!.executorConfig).toMatchObject({
      cc_orga_id: 'orga_07cf2ef0-c9ad-4f04-b492-94c164f95c76',
      cc_token: 'bb52e490-d47e-47a4-b190-73e23eb17111',
      cc_multi_tenant: false,
      cc_api_url: 'https://api.clever-cloud.com/v2',
      cc_zone: 'par',
      cc_default_flavor: 'M',
      cc_auth_user: 'Jenkins',
      cc_deployment_repo_timeout: 20,
      cc_deployment_repo_wait_step: 2,
      cc_extra_env: {CC_ENABLE_HEPTAPOD_RUNNER: 'true'},
    })
  })

  it('loads the multi-tenant example of the seed README unchanged', () => {
    const c = parse(readFileSync('test/fixtures/config/seed-multi-tenant.toml', 'utf8'))
    expect(c.warnings).toEqual([])
    expect(c.runners[0]!.executorConfig).toMatchObject({
      cc_multi_tenant: true,
      cc_gitlab_namespace_attributes_token: 'D7aY5I5SygxA5oyZ11vB',
      cc_orga_id_attribute: 'cc_orga_id',
      cc_orga_token_attribute: 'cc_orga_token',
    })
  })

  it('reads listen_address and log_level as GitLab Runner does', () => {
    const c = parse(`listen_address = ":9252"\nlog_level = "warning"\n${BASE}`)
    expect(c.listenAddress).toBe(':9252')
    expect(c.logLevel).toBe('warn')
  })

  it('keeps token dates written by register', () => {
    const c = parse(
      BASE.replace(
        'executor = "memory"',
        'executor = "memory"\n  id = 42\n  token_obtained_at = 2026-11-01T10:00:00Z\n  token_expires_at = 0001-01-01T00:00:00Z',
      ),
    )
    expect(c.runners[0]).toMatchObject({id: 42, tokenObtainedAt: '2026-11-01T10:00:00.000Z'})
  })
})

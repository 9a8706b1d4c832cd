import {spawn, type ChildProcess} from 'node:child_process'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {CleverSimulator} from '../src/sim/clever/clever-simulator.js'
import {GitLabSimulator} from '../src/sim/gitlab/gitlab-simulator.js'
import {BIN, freshDataDir, REPO} from './helpers/cli.js'
import {waitUntil} from './helpers/wait.js'

const CC_TOKEN = 'cc-fair-orga-token-SeCrEt'
/** 3XL is 32 GiB: 32^1.25 = 76.1093… (written down, not computed by the product). */
const HEAVIEST = 76.10925536
let gitlab: GitLabSimulator
let clever: CleverSimulator
let child: ChildProcess | undefined

beforeEach(async () => {
  // Workhorse holds a poll with nothing to hand out for 8 s here (~50 s in production).
  gitlab = new GitLabSimulator({longPollMs: 8_000})
  clever = new CleverSimulator({jobDurationMs: 100})
  await gitlab.start()
  await clever.start()
  clever.addOrg('orga_fair', {token: CC_TOKEN})
})
afterEach(async () => {
  child?.kill('SIGKILL')
  await clever.stop()
  await gitlab.stop()
})

describe('fair intake (real CLI, simulators)', () => {
  it('3 runners, a quota of 2 × the heaviest flavor: every runner gets jobs within the bound; the quota holds at every moment', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpr-fair-'))
    const runners = ['a', 'b', 'c'].map((name) => ({name, token: gitlab.createRunner().token}))
    const config = join(dir, 'config.toml')
    writeFileSync(
      config,
      `check_interval = 0.5
job_progress_poll_interval = 0.5
state_file = "${join(dir, 'state.json')}"
[quota_computation]
  reference_runner = "a"
  reference_flavor = "3XL"
  reference_jobs_count = 2
${runners
  .map(
    (r) => `[[runners]]
  name = "${r.name}"
  url = "${gitlab.url}"
  token = "${r.token}"
  executor = "clever-docker"
  cc_api_url = "${clever.apiUrl}"
  cc_deployment_repo_wait_step = 0.05
  cc_orga_id = "orga_fair"
  cc_token = "${CC_TOKEN}"
  [runners.cc_extra_env]
    CC_ENABLE_HEPTAPOD_RUNNER = "true"
`,
  )
  .join('')}`,
    )
    // A stream of small jobs for a and b (they would keep every held poll busy), and some for c.
    const jobs = new Map<string, number[]>(runners.map((r) => [r.name, []]))
    const enqueue = (r: {name: string; token: string}): void =>
      void jobs.get(r.name)!.push(gitlab.enqueueJob({flavor: 'XS', durationMs: 1_500, runnerToken: r.token}).id)
    for (let i = 0; i < 3; i++) for (const r of runners) enqueue(r)
    const feeder = setInterval(() => {
      for (const r of runners.slice(0, 2)) if (jobs.get(r.name)!.length < 12) enqueue(r)
    }, 700)
    const started = Date.now()
    child = spawn(process.execPath, [BIN, 'run', config], {
      cwd: REPO,
      env: {...process.env, OCLIF_SKIP_NEW_VERSION_CHECK: 'true', HEPTAPOD_PAAS_RUNNER_DATA_DIR: freshDataDir()},
      stdio: ['ignore', 'ignore', 'ignore'],
    })
    const first = new Map<string, number>()
    try {
      await waitUntil(
        () => {
          for (const r of runners) {
            if (!first.has(r.name) && jobs.get(r.name)!.some((id) => gitlab.job(id)!.status !== 'pending'))
              first.set(r.name, Date.now() - started)
          }
          return first.size === 3 && jobs.get('c')!.every((id) => gitlab.job(id)!.status === 'success')
        },
        60_000,
        "every runner took jobs, and all of c's ran",
      )
    } finally {
      clearInterval(feeder)
    }
    // The bound (README): one long-poll hold (8 s here) plus check_interval per runner, and start-up.
    for (const [name, ms] of first) expect(ms, `${name} waited ${ms} ms`).toBeLessThan(20_000)
    // The weight of live applications never exceeded the quota.
    expect(clever.peakWeight()).toBeLessThanOrEqual(2 * HEAVIEST + 1e-6)
  }, 90_000)
})

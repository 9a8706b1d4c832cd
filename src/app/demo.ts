import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {Config as OclifConfig} from '@oclif/core'

import type {Logger} from '../core/logger.js'
import {Redactor} from '../core/redact.js'
import {CleverSimulator} from '../sim/clever/clever-simulator.js'
import {GitLabSimulator} from '../sim/gitlab/gitlab-simulator.js'
import {startDaemon, type Daemon} from './daemon.js'
import {loadConfigFile} from './runtime.js'

export interface DemoOptions {
  /** Jobs to feed; the demo ends when they are all over and no app is left. */
  jobs: number
  /** Mean time between two job arrivals, ms. */
  arrivalMs?: number
  signal?: AbortSignal
}

export interface DemoResult {
  jobs: Array<{id: number; status: string; flavor: string}>
  appsLeft: number
  peakWeight: number
  quota: number | null
}

const FLAVORS = ['XS', 'XS', 'S', 'S', 'M', 'L']

/**
 * The embedded demo: a simulated GitLab and a simulated Clever Cloud in this process, the real
 * daemon between them, and a stream of sample jobs of mixed flavors, one of which asks for a
 * flavor that does not exist (it fails with a clear reason) and one of which is canceled.
 */
export async function runDemo(
  oclif: OclifConfig,
  logger: Logger,
  o: DemoOptions,
  onStart?: (d: Daemon) => void,
): Promise<DemoResult> {
  const gitlab = new GitLabSimulator({longPollMs: 10_000, ackTimeoutMs: 30_000})
  const clever = new CleverSimulator({repoReadyDelayMs: 300})
  const dir = await mkdtemp(join(tmpdir(), 'heptapod-paas-runner-demo-'))
  let daemon: Daemon | undefined
  // Ends the demo's own waits (the canceling user's) when the demo ends, however it ends: a
  // pending wait's timer would keep the process alive after the summary.
  const ended = new AbortController()
  try {
    await gitlab.start()
    await clever.start()
    clever.addOrg('orga_demo', {token: 'demo-clever-token'})
    const runner = gitlab.createRunner({description: 'demo'})
    const path = join(dir, 'demo.toml')
    await writeFile(
      path,
      `# Embedded demo: everything here is simulated on 127.0.0.1.
concurrent = 20
check_interval = 1
job_progress_poll_interval = 2
paas_max_concurrent_provisioning = 5
state_file = "${join(dir, 'state.json')}"

[quota_computation]
  reference_runner = "demo"
  reference_flavor = "L"
  reference_jobs_count = 3

[[runners]]
  name = "demo"
  url = "${gitlab.url}"
  token = "${runner.token}"
  executor = "clever-docker"
  cc_api_url = "${clever.apiUrl}"
  cc_orga_id = "orga_demo"
  cc_token = "demo-clever-token"
  cc_max_flavor = "L"
  cc_deployment_repo_wait_step = 0.2
  [runners.cc_extra_env]
    CC_ENABLE_HEPTAPOD_RUNNER = "true"
  [runners.docker]
    image = "debian:bookworm"
`,
      {mode: 0o600},
    )
    const loaded = await loadConfigFile(oclif, path, new Redactor())
    daemon = await startDaemon(loaded, logger)
    onStart?.(daemon)

    const fed: Array<{id: number; flavor: string}> = []
    const arrival = o.arrivalMs ?? 400
    // The third job asks for a flavor that does not exist, the fifth is canceled: with fewer jobs,
    // every job is a normal one (`demo --jobs 1` runs one job to success).
    const failAt = o.jobs >= 3 ? 2 : -1
    const cancelAt = o.jobs >= 5 ? 4 : -1
    for (let i = 0; i < o.jobs && !o.signal?.aborted; i++) {
      const flavor = i === failAt ? 'HUGE' : FLAVORS[i % FLAVORS.length]!
      const j = gitlab.enqueueJob({
        flavor,
        name: `demo-${i + 1}`,
        durationMs: i === cancelAt ? 30_000 : 800 + Math.floor(Math.random() * 2500),
        image: 'node:22',
        services: ['postgres:16'],
      })
      fed.push({id: j.id, flavor})
      if (i === cancelAt) {
        // A user cancels this one once it runs: the daemon notices and deletes its app.
        void gitlab
          .waitForJob(j.id, (x) => x.status === 'running' && x.log.length > 0, 120_000, ended.signal)
          .then(() => gitlab.cancelJob(j.id))
          .catch(() => {})
      }
      await sleep(arrival / 2 + Math.random() * arrival, o.signal)
    }
    const over = (): boolean =>
      fed.every((f) => ['success', 'failed', 'canceled'].includes(gitlab.job(f.id)!.status)) && clever.apps.size === 0
    while (!over() && !o.signal?.aborted) await sleep(200, o.signal)
    const snap = daemon.dispatcher.snapshot()
    await daemon.stop(o.signal?.aborted ? 'demo interrupted' : 'demo finished')
    daemon = undefined
    return {
      jobs: fed.map((f) => ({id: f.id, flavor: f.flavor, status: gitlab.job(f.id)!.status})),
      appsLeft: clever.apps.size,
      peakWeight: clever.peakWeight(),
      quota: snap.quota.total,
    }
  } finally {
    ended.abort()
    if (daemon) await daemon.stop('demo stopped')
    await clever.stop()
    await gitlab.stop()
    await rm(dir, {recursive: true, force: true})
  }
}

/** Sleeps `ms`, or less when `signal` fires; leaves no listener behind either way. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve()
    const done = (): void => {
      clearTimeout(t)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const t = setTimeout(done, ms)
    signal?.addEventListener('abort', done, {once: true})
  })
}

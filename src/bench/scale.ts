/**
 * The scale benchmark: the real daemon (CLI `run`, memory executor) with 20 runners on 2
 * GitLab simulators with long polling, up to 5,000 tracked jobs. Sampled from /proc; the
 * event-loop delay comes from a probe loaded into the daemon (lag-probe.ts), the simulators run
 * in this process.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {pathToFileURL} from 'node:url'

import {GitLabSimulator} from '../sim/gitlab/gitlab-simulator.js'
import {withMemoryExecutor} from '../test-doubles/memory/link.js'
import {processCpuMs} from './launch-cost.js'
import {percentile} from './stats.js'

const REPO = resolve(import.meta.dirname, '../..')

export interface ScaleFigures {
  runners: number
  tracked: number
  /** Once every runner has renewed its long poll. */
  idleCpu: number
  /** From 5 s after the first polls. */
  idleJustStartedCpu: number
  idleRssMB: number
  burst: number
  burstSeconds: number
  burstLagP99: number
  burstLagMax: number
  /** The same probe in a bare node process (an empty event loop) during the same burst: what the machine alone imposes. */
  floorLagP99: number
  floorLagMax: number
  busyCpu: number
  rssMB: number
  statusMs: number
  statusCpuMs: number
  statusKiB: number
}

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as {port: number}).port
  await new Promise((r) => s.close(r))
  return port
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

function cpuPct(pid: number): () => number {
  const c0 = processCpuMs(pid).own
  const w0 = performance.now()
  return () => ((processCpuMs(pid).own - c0) / (performance.now() - w0)) * 100
}

function rssMB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024
}

/** How long the GitLab simulators hold a job request (long polling). */
const LONG_POLL_MS = 50_000

export async function scale(o: {
  runners: number
  tracked: number
  burst: number
  windowMs: number
}): Promise<ScaleFigures> {
  const sims = [new GitLabSimulator({longPollMs: LONG_POLL_MS}), new GitLabSimulator({longPollMs: LONG_POLL_MS})]
  for (const sim of sims) await sim.start()
  const dir = mkdtempSync(join(tmpdir(), 'hpr-bench-scale-'))
  const port = await freePort()
  const lagFile = join(dir, 'lag.json')
  const runners = Array.from({length: o.runners}, (_, i) => {
    const sim = sims[i % sims.length]!
    return `[[runners]]\n  name = "r${i}"\n  url = "${sim.url}"\n  token = "${sim.createRunner().token}"\n  executor = "memory"\n  memory_cloud = "scale"\n`
  })
  writeFileSync(
    join(dir, 'config.toml'),
    `concurrent = ${o.tracked + 100}
paas_max_concurrent_provisioning = ${o.tracked + 100}
check_interval = 3
job_progress_poll_interval = 30
listen_address = "127.0.0.1:${port}"
state_file = "${join(dir, 'state.json')}"
[quota_computation]
  reference_runner = "r0"
  reference_flavor = "3XL"
  reference_jobs_count = ${o.tracked + 100}
${runners.join('')}`,
  )
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '--import',
      pathToFileURL(join(import.meta.dirname, 'lag-probe.js')).href,
      join(REPO, 'bin/run.cjs'),
      'run',
      join(dir, 'config.toml'),
      '--log-level',
      'error',
    ],
    {
      env: {
        ...process.env,
        OCLIF_SKIP_NEW_VERSION_CHECK: 'true',
        HEPTAPOD_PAAS_RUNNER_DATA_DIR: withMemoryExecutor(join(dir, 'data')),
        HPR_LAG_PROBE_FILE: lagFile,
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  )
  const pid = child.pid!
  const running = (): number =>
    sims.reduce((n, sim) => n + [...sim.jobs.values()].filter((j) => j.status === 'running').length, 0)
  const enqueue = (n: number): void => {
    for (let i = 0; i < n; i++) sims[i % sims.length]!.enqueueJob({flavor: 'XS'})
  }
  // The floor of the event-loop delay: the same probe in a node process that does nothing.
  const floorLagFile = join(dir, 'lag-floor.json')
  const bare: ChildProcess = spawn(
    process.execPath,
    ['--import', pathToFileURL(join(import.meta.dirname, 'lag-probe.js')).href, '-e', 'setInterval(() => {}, 1 << 30)'],
    {
      env: {...process.env, HPR_LAG_PROBE_FILE: floorLagFile},
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  )
  const probe = async (p: ChildProcess, file: string): Promise<{p99: number; max: number}> => {
    rmSync(file, {force: true})
    p.kill('SIGUSR2')
    for (let i = 0; i < 500; i++) {
      try {
        return JSON.parse(readFileSync(file, 'utf8')) as {p99: number; max: number}
      } catch {
        await sleep(10)
      }
    }
    throw new Error('the lag probe did not answer')
  }
  const lag = () => probe(child, lagFile)
  try {
    // Idle: every runner holds a long poll. First just after start, then once every runner has
    // renewed its long poll (50 s): V8's start-up work (its helper threads compiling and
    // collecting the start-up heap) goes on for some seconds after the first polls, once, and a
    // daemon idles for months after it.
    const requests = (): number => sims.reduce((n, sim) => n + sim.counters.get('POST /jobs/request'), 0)
    while (requests() < o.runners) await sleep(100)
    await sleep(5_000)
    const justStarted = cpuPct(pid)
    await sleep(o.windowMs)
    const idleJustStartedCpu = justStarted()
    while (requests() < 2 * o.runners) await sleep(100)
    const idle = cpuPct(pid)
    await sleep(LONG_POLL_MS)
    const idleCpu = idle()
    const idleRssMB = rssMB(pid)

    // A burst of acquisitions, the event loop watched from inside the daemon.
    await lag()
    await probe(bare, floorLagFile)
    const b0 = performance.now()
    enqueue(o.burst)
    while (running() < o.burst) await sleep(20)
    const burstSeconds = (performance.now() - b0) / 1000
    const burstLag = await lag()
    const floorLag = await probe(bare, floorLagFile)

    // Up to `tracked` jobs, then busy CPU and memory once acquisition is over.
    enqueue(o.tracked - o.burst)
    while (running() < o.tracked) await sleep(200)
    await sleep(10_000)
    const busy = cpuPct(pid)
    await sleep(o.windowMs)
    const busyCpu = busy()
    const rss = rssMB(pid)

    // /status: the whole snapshot as JSON, wall time and daemon CPU per request.
    const times: number[] = []
    let bytes = 0
    const c0 = processCpuMs(pid).own
    const n = 20
    for (let i = 0; i < n; i++) {
      const t0 = performance.now()
      const res = await fetch(`http://127.0.0.1:${port}/status`)
      bytes = (await res.arrayBuffer()).byteLength
      times.push(performance.now() - t0)
    }
    const statusCpuMs = (processCpuMs(pid).own - c0) / n
    return {
      runners: o.runners,
      tracked: o.tracked,
      idleCpu,
      idleJustStartedCpu,
      idleRssMB,
      burst: o.burst,
      burstSeconds,
      burstLagP99: burstLag.p99,
      burstLagMax: burstLag.max,
      floorLagP99: floorLag.p99,
      floorLagMax: floorLag.max,
      busyCpu,
      rssMB: rss,
      statusMs: percentile(times, 50),
      statusCpuMs,
      statusKiB: bytes / 1024,
    }
  } finally {
    bare.kill('SIGTERM')
    child.kill('SIGTERM')
    await new Promise((r) => child.once('exit', r))
    for (const sim of sims) await sim.stop()
    rmSync(dir, {recursive: true, force: true})
  }
}

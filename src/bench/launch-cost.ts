/**
 * Cost of one clever-docker launch: the CPU time of the real daemon (the CLI `run`, its own
 * process plus every child it reaped, if any) from acquisition to `running`, against zero-delay
 * simulators hosted in this process (their own CPU, `git http-backend` included, is not counted
 * in it: it is reported apart, as it shares the cores). The daemon runs with the defaults an
 * operator gets (paas_max_concurrent_provisioning 10), after a warm-up of 50 launches. A burst of
 * launches gives the throughput; launches made one at a time then give the CPU of one launch.
 * The floor is the bare `git init/add/commit` then `git push` of the same three files to the same
 * `git http-backend`, one app at a time too, measured the same way (CPU of the git processes
 * only), as a mean.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {cpus, loadavg, tmpdir} from 'node:os'
import {join, resolve} from 'node:path'

import {run} from '../sim/common/git-http-backend.js'
import {CleverSimulator} from '../sim/clever/clever-simulator.js'
import {GitLabSimulator} from '../sim/gitlab/gitlab-simulator.js'
import {percentile} from './stats.js'

const REPO = resolve(import.meta.dirname, '../..')
const CC_TOKEN = 'bench-cc-token'
const GIT_USER = 'Jenkins'
/**
 * Launches made before the measured ones, not counted: a daemon runs for months, and what its
 * first launches cost once (V8 compiling the launch path, about 1.3 ms of each of the first
 * 500 launches in a profile) is not what a launch costs.
 */
const WARM_UP_LAUNCHES = 50

/** CPU ms of a process (`own`) and of the children it has reaped (`children`): utime, stime, cutime, cstime. */
export function processCpuMs(pid: number): {own: number; children: number} {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  // Fields 14–17 of proc(5): after the `) ` split, the state is index 0, utime index 11. USER_HZ = 100.
  return {own: (Number(f[11]) + Number(f[12])) * 10, children: (Number(f[13]) + Number(f[14])) * 10}
}

export interface LaunchCost {
  jobs: number
  throughput: number
  /** CPU of one launch, launches made one at a time as the floor's pushes are: the daemon and the processes it ran. */
  cpuPerLaunchMs: number
  /** Of which the daemon's own process, and the git processes it ran. */
  daemonPerLaunchMs: number
  childrenPerLaunchMs: number
  /** Launches made one at a time for `cpuPerLaunchMs` (as many as the floor's runs). */
  aloneRuns: number
  /** CPU per launch during the burst (every job enqueued at once, 10 provisioning at a time, the simulators on the same cores). */
  burstCpuPerLaunchMs: number
  /** Of which the daemon's own process, and the git processes it ran. */
  burstDaemonPerLaunchMs: number
  burstChildrenPerLaunchMs: number
  /** The simulators of this process and their `git http-backend`s: the other side, on the same 2 cores. */
  simulatorsPerLaunchMs: number
  /** Of which the git processes the simulators ran (`git http-backend`, receive-pack, the hook…). */
  simulatorGitPerLaunchMs: number
  p50: number
  p99: number
  floorMs: number
  /** Of which `git push` alone. */
  floorPushMs: number
  floorRuns: number
  /** The machine's 1-minute load average when the launches started and when they ended (a shared machine). */
  load: [number, number]
}

/** One figure of issue 20 with its target and whether it is met. */
export interface Verdict {
  figure: string
  value: string
  target: string
  met: boolean
}

/** The launch figures of issue 20: throughput, CPU per launch, its ratio to the bare-git floor. */
export function launchVerdicts(cl: LaunchCost): Verdict[] {
  const ratio = cl.cpuPerLaunchMs / cl.floorMs
  return [
    {
      figure: `launch throughput, ${cl.jobs} jobs`,
      value: `${cl.throughput.toFixed(1)} jobs/s`,
      target: '≥ 25 jobs/s',
      met: cl.throughput >= 25,
    },
    {
      figure: `CPU per launch (${cl.aloneRuns} launches one at a time, as the floor runs)`,
      value: `${cl.cpuPerLaunchMs.toFixed(1)} ms`,
      target: '≤ 40 ms',
      met: cl.cpuPerLaunchMs <= 40,
    },
    {
      figure: `CPU per launch ÷ bare-git floor (${cl.floorMs.toFixed(1)} ms)`,
      value: `${ratio.toFixed(2)} ×`,
      target: '≤ 1.5 ×',
      met: ratio <= 1.5,
    },
  ]
}

/** Launches per second the machine's cores allow at the CPU a launch cost during the burst: the daemon's alone, and with the simulators' beside it. */
export function launchBounds(cl: LaunchCost, cores: number): {daemonOnly: number; withSimulators: number} {
  return {
    daemonOnly: (cores * 1000) / cl.burstCpuPerLaunchMs,
    withSimulators: (cores * 1000) / (cl.burstCpuPerLaunchMs + cl.simulatorsPerLaunchMs),
  }
}

/**
 * `jobs` clever-docker launches at once by the real daemon, then `floorRuns` launches one at a
 * time, then `floorRuns` bare-git pushes of the same files.
 */
export async function launchCost(
  jobs: number,
  floorRuns: number,
  opts: {cpuProfDir?: string} = {},
): Promise<LaunchCost> {
  const gitlab = new GitLabSimulator({longPollMs: 50_000})
  // No inner runner: the job's own run (its calls to GitLab) happens on Clever's machines, not
  // on the daemon's, and is not part of a launch; here it would only take the cores the launches use.
  const clever = new CleverSimulator({repoReadyDelayMs: 0, innerRunner: false})
  await gitlab.start()
  await clever.start()
  clever.addOrg('orga_bench', {token: CC_TOKEN, gitUser: GIT_USER})
  const token = gitlab.createRunner().token
  const dir = mkdtempSync(join(tmpdir(), 'hpr-bench-launch-'))
  const conc = Math.max(WARM_UP_LAUNCHES + jobs + floorRuns, 10) // no job ends: each keeps its slot
  writeFileSync(
    join(dir, 'config.toml'),
    // paas_max_concurrent_provisioning at its default (10), as operators run it.
    `concurrent = ${conc}
job_progress_poll_interval = 3600
state_file = "${join(dir, 'state.json')}"
[quota_computation]
  reference_runner = "bench"
  reference_flavor = "3XL"
  reference_jobs_count = ${conc}
[[runners]]
  name = "bench"
  url = "${gitlab.url}"
  token = "${token}"
  executor = "clever-docker"
  cc_api_url = "${clever.apiUrl}"
  cc_orga_id = "orga_bench"
  cc_token = "${CC_TOKEN}"
  cc_deployment_repo_wait_step = 0.01
  [runners.cc_extra_env]
    CC_ENABLE_HEPTAPOD_RUNNER = "true"
`,
  )
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...(opts.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', opts.cpuProfDir] : []),
      join(REPO, 'bin/run.cjs'),
      'run',
      join(dir, 'config.toml'),
      '--log-level',
      'warn',
    ],
    {
      env: {...process.env, OCLIF_SKIP_NEW_VERSION_CHECK: 'true', HEPTAPOD_PAAS_RUNNER_DATA_DIR: join(dir, 'data')},
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  )
  try {
    // Started and polling: the start-up work (module loading, JIT of the first requests) is not a launch.
    while (gitlab.counters.get('POST /jobs/request') < 1) await new Promise((r) => setTimeout(r, 50))
    await new Promise((r) => setTimeout(r, 1500))
    let warmed = 0
    const warming = (): number => warmed++
    clever.on('push', warming)
    for (let i = 0; i < WARM_UP_LAUNCHES; i++) gitlab.enqueueJob({flavor: 'XS'})
    await waitFor(
      () => warmed >= WARM_UP_LAUNCHES,
      120_000,
      () => `${warmed} of ${WARM_UP_LAUNCHES} warm-up launches`,
    )
    clever.off('push', warming)
    await new Promise((r) => setTimeout(r, 300))
    const pushedAt: number[] = []
    clever.on('push', () => pushedAt.push(performance.now()))
    const load0 = loadavg()[0]!
    const cpu0 = processCpuMs(child.pid!)
    const sim0 = processCpuMs(process.pid)
    const t0 = performance.now()
    const enqueuedAt = performance.now()
    for (let i = 0; i < jobs; i++) gitlab.enqueueJob({flavor: 'XS'})
    await waitFor(
      () => pushedAt.length >= jobs,
      600_000,
      () => `${pushedAt.length} of ${jobs} launches`,
    )
    // Its git processes are counted once the daemon has reaped them; it records `launched` then
    // `running` after that: let it finish those writes.
    await waitFor(
      () => childPids(child.pid!).length === 0,
      60_000,
      () => `${childPids(child.pid!).length} processes of the daemon still running`,
    )
    await new Promise((r) => setTimeout(r, 300))
    const cpu1 = processCpuMs(child.pid!)
    const sim1 = processCpuMs(process.pid)
    const load1 = loadavg()[0]!
    const ownMs = cpu1.own - cpu0.own
    const childrenMs = cpu1.children - cpu0.children
    const last = Math.max(...pushedAt)
    const sinceEnqueue = pushedAt.map((t) => t - enqueuedAt)

    // One launch at a time, as the floor's pushes run: what a launch costs, without the burst's
    // contention (10 pushes and the simulators' git processes on the same cores make each process
    // cost more CPU).
    const alone0 = processCpuMs(child.pid!)
    for (let i = 0; i < floorRuns; i++) {
      const pushes = pushedAt.length
      gitlab.enqueueJob({flavor: 'XS'})
      // Its git processes are counted once the daemon has reaped them.
      await waitFor(
        () => pushedAt.length > pushes && childPids(child.pid!).length === 0,
        60_000,
        () =>
          `launch ${i + 1} of ${floorRuns} one at a time: ${pushedAt.length - pushes} push, ${childPids(child.pid!).length} processes running`,
      )
    }
    await new Promise((r) => setTimeout(r, 300))
    const alone1 = processCpuMs(child.pid!)

    // The floor: the same three files, the same git http-backend, bare git commands.
    const apps = [...clever.apps.values()].filter((a) => a.pushed).slice(0, floorRuns)
    const basic = Buffer.from(`${GIT_USER}:${CC_TOKEN}`).toString('base64')
    const floorWork: Array<{work: string; url: string}> = []
    for (const app of apps) {
      const repo = join(clever.gitRoot, `${app.id}.git`)
      await run('git', ['--git-dir', repo, 'update-ref', '-d', 'refs/heads/master']) // server side: not measured
      const work = join(dir, `floor-${app.id}`)
      mkdirSync(work)
      for (const [name, text] of Object.entries(app.pushed!.files)) writeFileSync(join(work, name), text)
      floorWork.push({work, url: `${clever.apiUrl.replace(/\/v2$/, '')}/git/${app.id}.git`})
    }
    const floor = await bareGitPushes(floorWork, basic, dir)
    return {
      jobs,
      throughput: jobs / ((last - t0) / 1000),
      cpuPerLaunchMs: (alone1.own + alone1.children - alone0.own - alone0.children) / floorRuns,
      daemonPerLaunchMs: (alone1.own - alone0.own) / floorRuns,
      childrenPerLaunchMs: (alone1.children - alone0.children) / floorRuns,
      aloneRuns: floorRuns,
      burstCpuPerLaunchMs: (ownMs + childrenMs) / jobs,
      burstDaemonPerLaunchMs: ownMs / jobs,
      burstChildrenPerLaunchMs: childrenMs / jobs,
      simulatorsPerLaunchMs: (sim1.own + sim1.children - sim0.own - sim0.children) / jobs,
      simulatorGitPerLaunchMs: (sim1.children - sim0.children) / jobs,
      p50: percentile(sinceEnqueue, 50),
      p99: percentile(sinceEnqueue, 99),
      floorMs: (floor.commitMs + floor.pushMs) / floorWork.length,
      floorPushMs: floor.pushMs / floorWork.length,
      floorRuns: floorWork.length,
      load: [load0, load1],
    }
  } finally {
    child.kill('SIGTERM')
    await new Promise((r) => child.once('exit', r))
    await clever.stop()
    await gitlab.stop()
    rmSync(dir, {recursive: true, force: true})
  }
}

/** The pids of a process's children (proc(5): /proc/<pid>/task/<tid>/children). */
function childPids(pid: number): string[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean)
}

/** Waits until `cond` holds; after `timeoutMs`, throws saying what was reached (`reached`). */
async function waitFor(cond: () => boolean, timeoutMs: number, reached: () => string): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms; reached: ${reached()}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

/**
 * CPU (ms) of the bare git commands in every work directory, one after the other: first `git
 * init`, `add`, `commit` in each, then `git push` in each, each phase in one shell whose `times`
 * reports its children's CPU in clock ticks (10 ms). It is read once per phase for all the runs,
 * not once per run (a per-run reading rounds a 40 ms run to 30 or 40). The push alone is what a
 * launch cannot do without while it pushes with git.
 */
async function bareGitPushes(
  runs: ReadonlyArray<{work: string; url: string}>,
  basic: string,
  home: string,
): Promise<{commitMs: number; pushMs: number}> {
  const c = ['-c', 'user.name=Bench', '-c', 'user.email=bench@heptapod.test']
  const commit = (r: {work: string}) =>
    [
      `cd "${r.work}"`,
      'git init -q --initial-branch=master',
      `git ${c.join(' ')} add .`,
      `git ${c.join(' ')} commit -q -m bench`,
    ].join(' && ')
  const push = (r: {work: string; url: string}) =>
    `cd "${r.work}" && git -c "http.extraHeader=Authorization: Basic ${basic}" push -q "${r.url}" HEAD:refs/heads/master`
  const phase = async (one: (r: {work: string; url: string}) => string): Promise<number> => {
    const script = runs.map((r) => `{ ${one(r)}; } || echo FAILED`).join('\n')
    const out = await run('sh', ['-c', `${script}\ntimes`], {
      cwd: home,
      env: {PATH: process.env.PATH, HOME: home, GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0'},
    })
    if (out.stdout.includes('FAILED')) throw new Error(`the bare git floor failed: ${out.stderr}`)
    const lines = out.stdout.trim().split('\n')
    const secs = [...lines.at(-1)!.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]))
    return (secs[0]! + secs[1]!) * 1000
  }
  return {commitMs: await phase(commit), pushMs: await phase(push)}
}

const ms = (v: number): string => `${v.toFixed(1)} ms`

/** What the bench prints of a launch-cost run: each figure with its target and verdict, then what bounds the throughput. */
export function describeLaunchCost(cl: LaunchCost, cores = cpus().length): string[] {
  const b = launchBounds(cl, cores)
  return [
    ...launchVerdicts(cl).map((v) => `  ${v.figure}: ${v.value} (target ${v.target}): ${v.met ? 'met' : 'MISSED'}`),
    `  of which the daemon ${ms(cl.daemonPerLaunchMs)}, the processes it ran ${ms(cl.childrenPerLaunchMs)}; bare \`git push\` alone ${ms(cl.floorPushMs)}`,
    `  during the burst (10 provisioning at a time): ${ms(cl.burstCpuPerLaunchMs)} per launch (daemon ${ms(cl.burstDaemonPerLaunchMs)}, its processes ${ms(cl.burstChildrenPerLaunchMs)}); simulators ${ms(cl.simulatorsPerLaunchMs)} (their git processes ${ms(cl.simulatorGitPerLaunchMs)})`,
    `  ${cores} cores allow ${b.daemonOnly.toFixed(0)} launches/s for the daemon's CPU alone, ${b.withSimulators.toFixed(1)} with the simulators' beside it; load average ${cl.load[0].toFixed(1)} → ${cl.load[1].toFixed(1)}`,
  ]
}

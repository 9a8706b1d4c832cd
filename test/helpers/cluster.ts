import {spawn, type ChildProcess} from 'node:child_process'
import {createWriteStream, existsSync, readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import type {GitLabSimulator} from '../../src/sim/gitlab/gitlab-simulator.js'
import {BIN, REPO} from './cli.js'

/** A daemon of the cluster tests, its stderr kept in a file for the post-mortem. */
export function spawnDaemon(config: string, env: NodeJS.ProcessEnv, logFile: string): ChildProcess {
  const child = spawn(process.execPath, [BIN, 'run', config], {cwd: REPO, env, stdio: ['ignore', 'ignore', 'pipe']})
  child.stderr!.pipe(createWriteStream(logFile, {flags: 'a'}))
  return child
}

export const exited = (c: ChildProcess) =>
  new Promise<number | null>((resolve) =>
    c.exitCode !== null || c.signalCode !== null ? resolve(c.exitCode) : c.once('exit', (code) => resolve(code)),
  )

/**
 * The inner runner of the memory cloud in a directory: a launched resource's job finishes a
 * little later, at the simulator its runner belongs to (resource names carry the runner's short
 * token, part of its token). `sims`: runner token → its simulator.
 */
export function innerRunner(cloud: string, sims: ReadonlyMap<string, GitLabSimulator>): () => void {
  const finishing = new Set<string>()
  const timer = setInterval(() => {
    if (!existsSync(cloud)) return
    for (const f of readdirSync(cloud)) {
      if (!f.endsWith('.json') || finishing.has(f)) continue
      let r: {jobId: number; launched: boolean; name: string}
      try {
        r = JSON.parse(readFileSync(join(cloud, f), 'utf8')) as typeof r
      } catch {
        continue
      }
      if (!r.launched) continue
      const short = /^hpd-job-(.+)-\d+$/.exec(r.name)?.[1]
      const sim = short === undefined ? undefined : [...sims.entries()].find(([token]) => token.includes(short))?.[1]
      if (!sim) continue
      finishing.add(f)
      setTimeout(
        () => {
          if (sim.jobs.get(r.jobId)?.status === 'running') sim.finishJob(r.jobId, 'success')
        },
        50 + (r.jobId % 7) * 40,
      )
    }
  }, 20)
  return () => clearInterval(timer)
}

/** The peaks of the cloud's timeline (`.timeline`): resources at once, their weight, and those created but not launched. */
export function timelinePeaks(cloud: string): {
  resources: number
  weight: number
  provisioning: number
  events: number
} {
  const path = join(cloud, '.timeline')
  if (!existsSync(path)) return {resources: 0, weight: 0, provisioning: 0, events: 0}
  const alive = new Map<string, {weight: number; launched: boolean}>()
  const peaks = {resources: 0, weight: 0, provisioning: 0, events: 0}
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const [event, name, weight] = line.split(' ')
    if (!event || !name) continue
    peaks.events++
    if (event === 'create' && !alive.has(name)) alive.set(name, {weight: Number(weight), launched: false})
    if (event === 'launch' && alive.has(name)) alive.get(name)!.launched = true
    if (event === 'delete') alive.delete(name)
    const all = [...alive.values()]
    peaks.resources = Math.max(peaks.resources, all.length)
    peaks.weight = Math.max(
      peaks.weight,
      all.reduce((w, r) => w + r.weight, 0),
    )
    peaks.provisioning = Math.max(peaks.provisioning, all.filter((r) => !r.launched).length)
  }
  return peaks
}

/** The most jobs running at once across simulators, from their jobs' status histories. */
export function peakRunning(sims: readonly GitLabSimulator[]): number {
  const events: Array<{at: number; d: number}> = []
  for (const sim of sims) {
    for (const job of sim.jobs.values()) {
      let running = false
      for (const h of job.history) {
        if (h.status === 'running' && !running) {
          events.push({at: h.at, d: 1})
          running = true
        } else if (h.status !== 'running' && running) {
          events.push({at: h.at, d: -1})
          running = false
        }
      }
    }
  }
  // Ends before starts at the same instant: a slot freed and taken in one millisecond is not two.
  events.sort((a, b) => a.at - b.at || a.d - b.d)
  let now = 0
  let peak = 0
  for (const e of events) {
    now += e.d
    peak = Math.max(peak, now)
  }
  return peak
}

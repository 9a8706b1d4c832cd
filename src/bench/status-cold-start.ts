/**
 * `status CONFIG` cold start (state file, no daemon): wall time of the whole process, next to
 * its floor (`node -e 0`, node's own start-up) and to the same command through oclif (the fast
 * path of bin/run.cjs steps aside when CONFIG_FILE names the file). Runs are interleaved, so the
 * three figures see the same load.
 */
import {spawn} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'

import {percentile} from './stats.js'

const REPO = resolve(import.meta.dirname, '../..')

export interface StatusColdStart {
  runs: number
  p50: number
  min: number
  /** `node -e 0`. */
  floorP50: number
  /** `CONFIG_FILE=… status`: through oclif. */
  oclifP50: number
}

function timed(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const t0 = performance.now()
  return new Promise((done) => {
    const c = spawn(process.execPath, args, {stdio: 'ignore', env})
    c.once('exit', () => done(performance.now() - t0))
  })
}

export async function statusColdStart(runs: number): Promise<StatusColdStart> {
  const dir = mkdtempSync(join(tmpdir(), 'hpr-bench-status-'))
  try {
    const config = join(dir, 'c.toml')
    writeFileSync(
      config,
      `state_file = "${join(dir, 'state.json')}"\n[quota_computation]\nreference_runner = "c"\nreference_flavor = "L"\nreference_jobs_count = 3\n[[runners]]\nname = "c"\nurl = "https://gitlab.example"\ntoken = "glrt-benchstatus123"\nexecutor = "clever-docker"\ncc_orga_id = "orga_x"\ncc_token = "cc-bench-token"\n`,
    )
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      OCLIF_SKIP_NEW_VERSION_CHECK: 'true',
      HEPTAPOD_PAAS_RUNNER_DATA_DIR: join(dir, 'data'),
    }
    delete env.CONFIG_FILE
    const bin = join(REPO, 'bin/run.cjs')
    const fast: number[] = []
    const floor: number[] = []
    const oclif: number[] = []
    for (let i = 0; i < runs; i++) {
      fast.push(await timed([bin, 'status', config], env))
      floor.push(await timed(['-e', '0'], env))
      oclif.push(await timed([bin, 'status'], {...env, CONFIG_FILE: config}))
    }
    return {
      runs,
      p50: percentile(fast, 50),
      min: Math.min(...fast),
      floorP50: percentile(floor, 50),
      oclifP50: percentile(oclif, 50),
    }
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}

import {spawn} from 'node:child_process'
import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'

import {withMemoryExecutor} from '../../src/test-doubles/memory/link.js'

export const REPO = resolve(import.meta.dirname, '../..')
export const BIN = join(REPO, 'bin/run.cjs')

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * A fresh oclif data dir, so user-installed plugins of the machine never leak into a test. The
 * `memory` executor (a test double, never bundled) is linked in it, as `plugins link` would.
 */
export function freshDataDir(): string {
  return withMemoryExecutor(plainDataDir())
}

/** A fresh oclif data dir with no user plugin at all (not even the memory test double). */
export function plainDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'hpr-data-'))
}

/**
 * What runs the CLI when `fileModes` is set and the tests run as root (CI does): root without the
 * capabilities that let it bypass file modes (setpriv(1), util-linux), so that they apply to it as
 * to the files' owner.
 */
const BOUND_BY_FILE_MODES = [
  'setpriv',
  '--inh-caps',
  '-dac_override,-dac_read_search',
  '--bounding-set',
  '-dac_override,-dac_read_search',
]

/** Runs the real CLI (compiled) as a child process. */
export function runCli(
  args: string[],
  opts: {env?: NodeJS.ProcessEnv; dataDir?: string; input?: string; bin?: string; fileModes?: boolean} = {},
): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const argv = [process.execPath, opts.bin ?? BIN, ...args]
    if (opts.fileModes && process.getuid?.() === 0) argv.unshift(...BOUND_BY_FILE_MODES)
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: REPO,
      env: {
        ...process.env,
        OCLIF_SKIP_NEW_VERSION_CHECK: 'true',
        HEPTAPOD_PAAS_RUNNER_DATA_DIR: opts.dataDir ?? freshDataDir(),
        HEPTAPOD_PAAS_RUNNER_CACHE_DIR: join(opts.dataDir ?? freshDataDir(), 'cache'),
        // register remembers its answers there, and the default config file is there: never the machine's.
        HEPTAPOD_PAAS_RUNNER_CONFIG_DIR: join(opts.dataDir ?? freshDataDir(), 'config'),
        NODE_ENV: 'production',
        ...opts.env,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', reject)
    child.on('close', (code) => resolvePromise({code, stdout, stderr}))
    child.stdin.end(opts.input ?? '')
  })
}

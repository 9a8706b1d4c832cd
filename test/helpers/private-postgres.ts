/**
 * Vitest global setup: where no PostgreSQL answers at the tests' default address (and
 * HPR_TEST_DATABASE_URL is not set), start a private server from the machine's PostgreSQL binaries
 * (`initdb` + `pg_ctl` in a temporary folder, as a non-root user: PostgreSQL refuses root) and
 * point the tests at it; it is stopped and removed at the end. Without binaries, nothing happens
 * and the PostgreSQL tests are skipped, saying why. HPR_TEST_PRIVATE_POSTGRES=1 forces it (to test it).
 */
import {execFileSync} from 'node:child_process'
import {chownSync, existsSync, mkdtempSync, readdirSync, rmSync} from 'node:fs'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import pg from 'pg'

const DEFAULT_URL = 'postgresql://postgres@127.0.0.1:5432/test'

async function answers(url: string): Promise<boolean> {
  const c = new pg.Client({connectionString: url, connectionTimeoutMillis: 3000})
  c.on('error', () => {})
  try {
    await c.connect()
    return true
  } catch {
    return false
  } finally {
    await c.end().catch(() => {})
  }
}

/** The folder of `initdb` and `pg_ctl`: Debian's versioned folders (newest first), else PATH. */
function binaries(): string | undefined {
  const base = '/usr/lib/postgresql'
  if (existsSync(base)) {
    for (const v of readdirSync(base).sort((a, b) => Number(b) - Number(a))) {
      const bin = join(base, v, 'bin')
      if (existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'pg_ctl'))) return bin
    }
  }
  try {
    return join(execFileSync('pg_config', ['--bindir'], {encoding: 'utf8'}).trim())
  } catch {
    return undefined
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as {port: number}).port
      s.close(() => resolve(port))
    })
  })
}

export default async function setup(): Promise<(() => void) | undefined> {
  const forced = process.env.HPR_TEST_PRIVATE_POSTGRES === '1'
  if (!forced && (process.env.HPR_TEST_DATABASE_URL || (await answers(DEFAULT_URL)))) return undefined
  const bin = binaries()
  if (!bin) return undefined
  const dir = mkdtempSync(join(tmpdir(), 'hpr-private-pg-'))
  const data = join(dir, 'data')
  const root = process.getuid?.() === 0
  // As root, the server runs as `nobody`, which must own its folder.
  if (root) chownSync(dir, 65534, 65534)
  const as = (cmd: string, args: string[]): string =>
    execFileSync(root ? 'runuser' : cmd, root ? ['-u', 'nobody', '--', cmd, ...args] : args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: dir,
    })
  const port = await freePort()
  try {
    as(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync'])
    as(join(bin, 'pg_ctl'), [
      '-D',
      data,
      '-l',
      join(dir, 'server.log'),
      '-w',
      '-t',
      '60',
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
      'start',
    ])
    const url = `postgresql://postgres@127.0.0.1:${port}/postgres`
    const c = new pg.Client({connectionString: url})
    await c.connect()
    await c.query('CREATE DATABASE test')
    await c.end()
  } catch (error) {
    process.stderr.write(
      `no private PostgreSQL for the tests (${(error as Error).message.split('\n')[0]}); the PostgreSQL tests are skipped\n`,
    )
    rmSync(dir, {recursive: true, force: true})
    return undefined
  }
  // Inherited by the test workers, which read it in test/helpers/postgres.ts.
  process.env.HPR_TEST_DATABASE_URL = `postgresql://postgres@127.0.0.1:${port}/test`
  return () => {
    try {
      as(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', 'stop'])
    } catch {
      // already gone
    }
    rmSync(dir, {recursive: true, force: true})
  }
}

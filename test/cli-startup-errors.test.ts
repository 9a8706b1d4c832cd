import {chmodSync, mkdirSync, mkdtempSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {startupError} from '../src/app/startup-errors.js'
import {ConfigError} from '../src/core/errors.js'
import {runCli} from './helpers/cli.js'

/** Issue 12, item 7: start-up errors about the config's files and addresses exit 2 and name the key. */

const dir = mkdtempSync(join(tmpdir(), 'hpr-startup-'))
let busy: Server
let busyPort: number
beforeAll(async () => {
  busy = createServer()
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r))
  busyPort = (busy.address() as {port: number}).port
})
afterAll(async () => {
  await new Promise<void>((r) => busy.close(() => r()))
})

let n = 0
function config(globals: string): string {
  const file = join(dir, `c${++n}.toml`)
  // GitLab is never reached: the daemon stops before polling.
  writeFileSync(
    file,
    `${globals}
[quota_computation]
  reference_runner = "r"
  reference_flavor = "M"
  reference_jobs_count = 2
[[runners]]
  name = "r"
  url = "http://127.0.0.1:9"
  token = "startup-errors-token"
  executor = "memory"
`,
  )
  return file
}

describe('start-up errors about files and addresses exit 2 and name the key', () => {
  it.concurrent.each([
    [
      'state_file is a directory',
      () => `state_file = "${dir}"`,
      /state_file: cannot open the state file ".*": is a directory/,
    ],
    [
      'state_file in a missing directory',
      () => `state_file = "${join(dir, 'nope', 'state.json')}"`,
      /state_file: cannot open the state file ".*": no such file or directory/,
    ],
    [
      'listen_address in use',
      () => `state_file = "${join(dir, `s${n}.json`)}"\nlisten_address = "127.0.0.1:${busyPort}"`,
      /listen_address: cannot listen on "127\.0\.0\.1:\d+": address already in use/,
    ],
  ])('%s', async (_name, globals, re) => {
    const r = await runCli(['run', config(globals()), '--poll-cycles', '1'])
    expect(r.code, r.stderr).toBe(2)
    expect(r.stderr).toMatch(re)
    expect(r.stderr).not.toMatch(/\n\s+at /)
  })

  it('an errno that names no key goes through unchanged; a host that does not resolve is named', () => {
    const corrupt = new Error('corrupt state file')
    expect(startupError('c.toml', 'state_file', '/x', 'cannot open the state file', corrupt)).toBe(corrupt)
    const dns = startupError(
      'c.toml',
      'listen_address',
      'nowhere.invalid:9252',
      'cannot listen on',
      Object.assign(new Error('getaddrinfo ENOTFOUND'), {code: 'ENOTFOUND'}),
    )
    expect(dns).toBeInstanceOf(ConfigError)
    expect((dns as Error).message).toBe(
      'c.toml: listen_address: cannot listen on "nowhere.invalid:9252": host name cannot be resolved',
    )
  })
})

// Root reads and writes any file whatever its mode: as root, the CLI runs without that power.
describe('unreadable state files and directories', () => {
  it('an unreadable state file, or a directory that cannot be written, exits 2 naming state_file', async () => {
    const locked = join(dir, 'locked')
    mkdirSync(locked)
    writeFileSync(join(locked, 'state.json'), '')
    chmodSync(join(locked, 'state.json'), 0o000)
    chmodSync(locked, 0o500)
    // As root (CI), the CLI runs without the capabilities that bypass file modes.
    const r = await runCli(['run', config(`state_file = "${join(locked, 'state.json')}"`), '--poll-cycles', '1'], {
      fileModes: true,
    })
    expect(r.code, r.stderr).toBe(2)
    expect(r.stderr).toMatch(/state_file: cannot open the state file ".*": permission denied/)
  })
})

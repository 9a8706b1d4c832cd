import {mkdirSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {spawnSync} from 'node:child_process'

import {afterEach, beforeEach, describe, expect, it, vi} from 'vitest'

import {fastStatus, parsePlainStatusArgs, userPluginsFile} from '../src/cli/status-fast-path.js'
import {plainDataDir, REPO, runCli} from './helpers/cli.js'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hpr-fast-status-'))
})
afterEach(() => vi.restoreAllMocks())

function config(extra = ''): string {
  const path = join(dir, 'c.toml')
  writeFileSync(
    path,
    `state_file = "${join(dir, 'state.json')}"
${extra}
[quota_computation]
  reference_runner = "c"
  reference_flavor = "L"
  reference_jobs_count = 3
[[runners]]
  name = "c"
  url = "https://gitlab.example"
  token = "glrt-faststatus1234"
  executor = "clever-docker"
  cc_orga_id = "orga_x"
  cc_token = "cc-secret-token-123"
`,
  )
  return path
}

/** The report without its clock readings, which differ between two runs. */
const timeless = (s: string): string => s.replace(/"(at|startedAt)": \d+/g, '"$1": 0')

describe('status without oclif (bin/run.cjs fast path)', () => {
  it('prints what the oclif command prints: report, warnings, exit code, as text and as JSON', async () => {
    const path = config('an_unknown_key = 1')
    for (const json of [[], ['--json']]) {
      const dataDir = plainDataDir()
      const fast = await runCli(['status', path, ...json], {dataDir})
      const oclif = await runCli(['status', ...json], {dataDir, env: {CONFIG_FILE: path}})
      expect(fast.code).toBe(3)
      expect(fast.stderr).toContain('an_unknown_key')
      expect({...fast, stdout: timeless(fast.stdout)}).toEqual({...oclif, stdout: timeless(oclif.stdout)})
    }
  }, 120_000)

  it('a configuration error: the same message and exit 2 on both paths', async () => {
    const path = config('concurrent = "many"')
    const dataDir = plainDataDir()
    const fast = await runCli(['status', '-c', path], {dataDir})
    const oclif = await runCli(['status'], {dataDir, env: {CONFIG_FILE: path}})
    expect(fast.code).toBe(2)
    expect(fast.stderr).toContain('concurrent')
    expect(fast).toEqual(oclif)
  }, 120_000)

  it('bin/run.cjs answers from the bundle (dist/status-bundle), run from a code cache V8 accepts, not by falling back to oclif', async () => {
    const path = config()
    const dir = join(REPO, 'dist/status-bundle')
    const probe = `const m = require(${JSON.stringify(join(dir, 'code-cached-module.cjs'))}).loadWithCodeCache(${JSON.stringify(join(dir, 'status.cjs'))}, ${JSON.stringify(join(dir, 'status.cjs.v8-cache'))})
m.exports.fastStatusBundled([${JSON.stringify(path)}, '--json'], ${JSON.stringify(REPO)}, {HEPTAPOD_PAAS_RUNNER_DATA_DIR: ${JSON.stringify(plainDataDir())}})
  .then((code) => process.stderr.write('code=' + code + ' cache=' + m.cache))`
    const r = spawnSync(process.execPath, ['-e', probe], {encoding: 'utf8'})
    expect(r.stderr).toBe('code=3 cache=accepted')
    expect(JSON.parse(r.stdout)).toMatchObject({source: 'state-file'})
  })

  it("bin/run.js is the same command as bin/run.cjs (package.json's bin)", async () => {
    expect(
      (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {bin: Record<string, string>}).bin,
    ).toMatchObject({
      'heptapod-paas-runner': './bin/run.cjs',
    })
    const path = config()
    const dataDir = plainDataDir()
    const viaAlias = await runCli(['status', path, '--json'], {dataDir, bin: join(REPO, 'bin/run.js')})
    const direct = await runCli(['status', path, '--json'], {dataDir})
    expect(direct.code).toBe(3)
    expect({...viaAlias, stdout: timeless(viaAlias.stdout)}).toEqual({...direct, stdout: timeless(direct.stdout)})
  })

  it('answers in-process the forms it knows, and leaves the rest to oclif', async () => {
    const path = config()
    const env = {HEPTAPOD_PAAS_RUNNER_DATA_DIR: plainDataDir()}
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
    expect(await fastStatus([path, '--json'], REPO, env)).toBe(3)
    expect(JSON.parse(out.mock.calls[0]![0] as string)).toMatchObject({
      source: 'state-file',
      from: join(dir, 'state.json'),
    })
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    expect(await fastStatus([config('concurrent = "many"')], REPO, env)).toBe(2)
    expect(err.mock.calls[0]![0]).toMatch(/^configuration error:\n.*concurrent/s)
    expect(await fastStatus(['--help'], REPO, env)).toBeUndefined()
    // Plugins installed or linked by the user: only oclif knows how to load them.
    mkdirSync(env.HEPTAPOD_PAAS_RUNNER_DATA_DIR, {recursive: true})
    writeFileSync(join(env.HEPTAPOD_PAAS_RUNNER_DATA_DIR, 'package.json'), '{"oclif":{"plugins":[]}}')
    expect(await fastStatus([path], REPO, env)).toBeUndefined()
    expect(out).toHaveBeenCalledTimes(1)
  })
})

describe('parsePlainStatusArgs', () => {
  it.each([
    [[], {configPath: undefined, json: false}],
    [['a.toml'], {configPath: 'a.toml', json: false}],
    [['--json', 'a.toml'], {configPath: 'a.toml', json: true}],
    [['-c', 'a.toml', '--json'], {configPath: 'a.toml', json: true}],
    [['--config', 'a.toml'], {configPath: 'a.toml', json: false}],
    [['--config=a.toml'], {configPath: 'a.toml', json: false}],
  ])('%j is plain', (argv, expected) => {
    expect(parsePlainStatusArgs(argv, {})).toEqual(expected)
  })

  it.each([
    [['--help']],
    [['-h']],
    [['--json', '--json']],
    [['a.toml', 'b.toml']],
    [['a.toml', '-c', 'a.toml']],
    [['-c']],
    [['-c', '--json']],
    [['--config=']],
    [['--']],
    [['--jsn']],
    [['']],
  ])('%j goes to oclif', (argv) => {
    expect(parsePlainStatusArgs(argv, {})).toBeUndefined()
  })

  it('CONFIG_FILE in the environment goes to oclif (it may conflict with the argument)', () => {
    expect(parsePlainStatusArgs(['a.toml'], {CONFIG_FILE: 'b.toml'})).toBeUndefined()
  })
})

describe('userPluginsFile', () => {
  const cli = {bin: 'heptapod-paas-runner', dirname: 'heptapod-paas-runner'}
  it('is where oclif keeps user plugins: the scoped data dir, else XDG, else ~/.local/share', () => {
    expect(userPluginsFile(cli, {HEPTAPOD_PAAS_RUNNER_DATA_DIR: '/d', XDG_DATA_HOME: '/x'}, '/home/u')).toBe(
      '/d/package.json',
    )
    expect(userPluginsFile(cli, {XDG_DATA_HOME: '/x'}, '/home/u')).toBe('/x/heptapod-paas-runner/package.json')
    expect(userPluginsFile(cli, {}, '/home/u')).toBe('/home/u/.local/share/heptapod-paas-runner/package.json')
  })
})

import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {Config} from '@oclif/core'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {discoverExecutors} from '../src/plugin-api/executors-hook.js'
import {freshDataDir, REPO, runCli} from './helpers/cli.js'

const LINKED = join(REPO, 'test/fixtures/linked-executor-plugin')
const BROKEN = join(REPO, 'test/fixtures/broken-executor-plugin')

function writeUserPlugins(dataDir: string, plugins: Array<{name: string; root: string}>): void {
  const pjson = {private: true, oclif: {schema: 1, plugins: plugins.map((p) => ({...p, type: 'link'}))}}
  writeFileSync(join(dataDir, 'package.json'), JSON.stringify(pjson))
}

describe('the paas:executors hook', () => {
  let saved: string | undefined
  let dataDir: string
  beforeEach(() => {
    saved = process.env.HEPTAPOD_PAAS_RUNNER_DATA_DIR
    dataDir = mkdtempSync(join(tmpdir(), 'hpr-hook-'))
    process.env.HEPTAPOD_PAAS_RUNNER_DATA_DIR = dataDir
  })
  afterEach(() => {
    if (saved === undefined) delete process.env.HEPTAPOD_PAAS_RUNNER_DATA_DIR
    else process.env.HEPTAPOD_PAAS_RUNNER_DATA_DIR = saved
  })

  it("returns the bundled core plugins' executors: the production and development ones, never a test double", async () => {
    const d = await discoverExecutors(await Config.load({root: REPO}))
    expect([...d.executors.keys()].sort()).toEqual(['clever-docker', 'local-docker'])
    expect(d.executors.get('clever-docker')).toMatchObject({
      plugin: '@heptapod-paas-runner/plugin-clever-docker',
      pluginType: 'core',
    })
    expect(d.problems).toEqual([])
  })

  it("returns a linked plugin's executor beside the bundled one", async () => {
    writeUserPlugins(dataDir, [{name: '@heptapod-paas-runner-test/plugin-linked', root: LINKED}])
    const d = await discoverExecutors(await Config.load({root: REPO}))
    expect([...d.executors.keys()].sort()).toEqual(['clever-docker', 'linked-test', 'local-docker'])
    expect(d.executors.get('linked-test')).toMatchObject({
      plugin: '@heptapod-paas-runner-test/plugin-linked',
      pluginType: 'link',
    })
  })

  it('reports a plugin whose hook throws, and keeps the others', async () => {
    writeUserPlugins(dataDir, [
      {name: '@heptapod-paas-runner-test/plugin-broken', root: BROKEN},
      {name: '@heptapod-paas-runner-test/plugin-linked', root: LINKED},
    ])
    const d = await discoverExecutors(await Config.load({root: REPO}))
    expect([...d.executors.keys()].sort()).toEqual(['clever-docker', 'linked-test', 'local-docker'])
    expect(d.problems).toEqual([
      expect.stringMatching(
        /plugin @heptapod-paas-runner-test\/plugin-broken: executors hook failed: this plugin is broken on purpose/,
      ),
    ])
  })
})

describe('executor plugins through the real CLI', () => {
  it('`plugins link` adds an executor that a config can then use', async () => {
    const dataDir = freshDataDir()
    const link = await runCli(['plugins', 'link', '--no-install', LINKED], {dataDir})
    expect(link.code, link.stderr).toBe(0)

    const list = await runCli(['executors', '--json'], {dataDir})
    expect(list.code, list.stderr).toBe(0)
    const rows = JSON.parse(list.stdout).executors as Array<{name: string; pluginType: string}>
    expect(rows.map((r) => [r.name, r.pluginType]).sort()).toEqual([
      ['clever-docker', 'core'],
      ['linked-test', 'link'],
      ['local-docker', 'core'],
      ['memory', 'link'],
    ])

    const cfg = join(mkdtempSync(join(tmpdir(), 'hpr-cfg-')), 'config.toml')
    writeFileSync(
      cfg,
      `[quota_computation]\nreference_runner = "l"\nreference_flavor = "two"\nreference_jobs_count = 3\n\n[[runners]]\nname = "l"\nurl = "https://gitlab.example"\ntoken = "linked-runner-token"\nexecutor = "linked-test"\n`,
    )
    const quota = await runCli(['quota', cfg, '--json'], {dataDir})
    expect(quota.code, quota.stderr).toBe(0)
    expect(JSON.parse(quota.stdout).quota).toBeCloseTo(3 * 2 ** 1.25, 9)
  })

  it('`executors` labels a test double: memory, linked by the tests, is for tests only', async () => {
    const list = await runCli(['executors', '--json'])
    expect(list.code, list.stderr).toBe(0)
    const rows = JSON.parse(list.stdout).executors as Array<{name: string; audience: string}>
    expect(Object.fromEntries(rows.map((r) => [r.name, r.audience]))).toEqual({
      'clever-docker': 'production',
      'local-docker': 'development',
      memory: 'testing',
    })
    const text = await runCli(['executors'])
    expect(text.stdout).toMatch(/^memory .*\[test\/demo only\]$/m)
    expect(text.stdout).not.toMatch(/^clever-docker .*\[/m)
  })

  it('an unknown executor is a configuration error listing the installed ones', async () => {
    const cfg = join(mkdtempSync(join(tmpdir(), 'hpr-cfg-')), 'config.toml')
    writeFileSync(
      cfg,
      `[quota_computation]\nreference_runner = "l"\nreference_flavor = "M"\nreference_jobs_count = 3\n\n[[runners]]\nname = "l"\nurl = "https://gitlab.example"\ntoken = "linked-runner-token"\nexecutor = "x"\n`,
    )
    const r = await runCli(['quota', cfg])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(
      `${cfg}:10: runners[0].executor: unknown executor 'x'; installed executors: clever-docker, local-docker, memory`,
    )
  })
})

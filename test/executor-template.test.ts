import {spawn, type ChildProcess} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {GitLabSimulator} from '../src/sim/gitlab/gitlab-simulator.js'
import {BIN, freshDataDir, REPO, runCli, type CliResult} from './helpers/cli.js'
import {waitUntil} from './helpers/wait.js'

/**
 * examples/executor-template is a third-party plugin as its authors would write it: it depends on
 * the published SDK (its built dist/, not src/), is built on its own, passes the contract suite
 * with its own vitest, is linked into the CLI with `plugins link`, and runs a job.
 */
const TEMPLATE = join(REPO, 'examples/executor-template')

function run(cmd: string, args: string[], cwd: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cmd, ...args], {
      cwd,
      env: {...process.env, NODE_OPTIONS: '', NO_COLOR: '1', FORCE_COLOR: '0'},
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', reject)
    child.on('close', (code) => resolve({code, stdout, stderr}))
  })
}

describe('examples/executor-template, an external executor plugin', () => {
  const dataDir = freshDataDir()

  beforeAll(async () => {
    const build = await run(join(REPO, 'node_modules/typescript/bin/tsc'), ['-p', 'tsconfig.json'], TEMPLATE)
    expect(build.code, build.stdout + build.stderr).toBe(0)
    const link = await runCli(['plugins', 'link', '--no-install', TEMPLATE], {dataDir})
    expect(link.code, link.stderr).toBe(0)
  }, 120_000) // tsc and oclif on a loaded 2-core machine

  it("passes the SDK's executor contract suite, run by its own vitest", {timeout: 120_000}, async () => {
    const r = await run(join(REPO, 'node_modules/vitest/vitest.mjs'), ['run', '--reporter=verbose'], TEMPLATE)
    expect(r.code, r.stdout + r.stderr).toBe(0)
    expect(r.stdout).toContain('executor contract: example-dir')
    expect(r.stdout).toMatch(/Tests\s+12 passed/)
  })

  it('once linked with `plugins link`, is listed by `executors`', async () => {
    const list = await runCli(['executors', '--json'], {dataDir})
    expect(list.code, list.stderr).toBe(0)
    const rows = JSON.parse(list.stdout).executors as Array<{name: string; pluginType: string; plugin: string}>
    expect(rows.find((r) => r.name === 'example-dir')).toMatchObject({
      pluginType: 'link',
      plugin: 'heptapod-paas-runner-plugin-template',
      audience: 'testing',
    })
  })

  describe('runs a job through the GitLab simulator', () => {
    let sim: GitLabSimulator
    let child: ChildProcess | undefined
    beforeAll(async () => {
      sim = new GitLabSimulator()
      await sim.start()
    })
    afterAll(async () => {
      child?.kill('SIGKILL')
      await sim.stop()
    })

    it('provisions its directory, hands the build context over, and deletes it when the job is done', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'hpr-template-'))
      const root = join(dir, 'paas')
      const simRunner = sim.createRunner()
      const token = simRunner.token
      writeFileSync(
        join(dir, 'config.toml'),
        `check_interval = 0.1
job_progress_poll_interval = 0.2
state_file = "${join(dir, 'state.json')}"
[quota_computation]
  reference_runner = "t"
  reference_flavor = "L"
  reference_jobs_count = 2
[[runners]]
  name = "t"
  url = "${sim.url}"
  token = "${token}"
  executor = "example-dir"
  example_dir_root = "${root}"
`,
      )
      let stderr = ''
      const c = spawn(process.execPath, [BIN, 'run', join(dir, 'config.toml')], {
        cwd: REPO,
        env: {
          ...process.env,
          OCLIF_SKIP_NEW_VERSION_CHECK: 'true',
          HEPTAPOD_PAAS_RUNNER_DATA_DIR: dataDir,
          HEPTAPOD_PAAS_RUNNER_CACHE_DIR: join(dataDir, 'cache'),
          NODE_ENV: 'production',
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      })
      c.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
      child = c
      const exit = new Promise<number | null>((r) => c.once('exit', (code) => r(code)))

      const job = sim.enqueueJob({variables: {CI_EXAMPLE_DIR_FLAVOR: 'S'}})
      const launched = (): string | undefined =>
        existsSync(root) ? readdirSync(root).find((n) => existsSync(join(root, n, 'launched'))) : undefined
      await waitUntil(() => launched() !== undefined || c.exitCode !== null, 20_000, 'the job handed over')
      expect(c.exitCode, stderr).toBe(null)
      const name = launched()!
      expect(name).toMatch(/^hpd-job-.+-\d+$/)
      const context = join(root, name, 'context')
      expect(readdirSync(context).sort()).toEqual(['Dockerfile', 'job.json', 'runner.toml'])
      expect(JSON.parse(readFileSync(join(context, 'job.json'), 'utf8')).id).toBe(job.id)
      expect(readFileSync(join(context, 'runner.toml'), 'utf8')).not.toContain('example_dir_root')
      expect(readFileSync(join(root, name, 'owner'), 'utf8')).toMatch(/^heptapod-paas-runner system=\S+ runner=\S+\n/)
      // GitLab is told what the executor declares (innerRunner: no services), not a hard-coded docker.
      const infos = [...simRunner.managers.values()].map(
        (m) => m.info as {executor?: string; features?: Record<string, boolean>},
      )
      expect(infos).toEqual([
        expect.objectContaining({
          executor: 'docker',
          features: expect.objectContaining({services: false, two_phase_job_commit: true}),
        }),
      ])
      // The executor's line for the job log (deps.jobLog) is in the daemon's log.
      expect(stderr).toContain(`executor: example-dir: directory ${name} created (flavor S)`)

      sim.finishJob(job.id, 'success') // the inner runner's part
      await waitUntil(() => !existsSync(join(root, name)) || c.exitCode !== null, 20_000, 'the resource deleted')
      expect(c.exitCode, stderr).toBe(null)
      expect(sim.job(job.id)!.status).toBe('success')
      c.kill('SIGTERM')
      expect(await exit).toBe(0)
      expect(stderr).not.toContain(token)
    }, 60_000)
  })
})

import {spawn, spawnSync} from 'node:child_process'
import {chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {PassThrough} from 'node:stream'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {makeGitLabClient} from '../src/adapters/gitlab/make-gitlab-client.js'
import {inquirerPrompter} from '../src/cli/inquirer-prompter.js'
import {registerRunner, type Prompter} from '../src/cli/register.js'
import {defaultExecutorDeps} from '../src/app/runtime.js'
import {parseConfig} from '../src/core/config/parse-config.js'
import {silentLogger} from '../src/core/logger.js'
import {Redactor} from '../src/core/redact.js'
import {CleverSimulator} from '../src/sim/clever/clever-simulator.js'
import {GitLabSimulator} from '../src/sim/gitlab/gitlab-simulator.js'
import {BIN, freshDataDir, REPO, runCli} from './helpers/cli.js'
import {testExecutors} from './helpers/executors.js'
import {waitUntil} from './helpers/wait.js'

let sim: GitLabSimulator
let dir: string
beforeEach(async () => {
  sim = new GitLabSimulator()
  await sim.start()
  dir = mkdtempSync(join(tmpdir(), 'hpr-reg-'))
})
afterEach(async () => {
  await sim.stop()
})

const cleverSets = [
  '--set',
  'cc_multi_tenant=false',
  '--set',
  'cc_orga_id=orga_reg',
  '--set',
  'cc_token=cc-RegSecret-123',
  '--set',
  'cc_api_url=http://127.0.0.1:9/v2',
]
const load = (path: string) =>
  parseConfig(readFileSync(path, 'utf8'), {file: path, executors: testExecutors, defaultStateFile: 'x'})
const mode = (path: string) => statSync(path).mode & 0o777

describe('register, non-interactive (real CLI)', () => {
  it('legacy registration token: registers, creates a 0600 file whose quota fits the maximum flavor, and says what to do next', async () => {
    sim.addRegistrationToken('GR1348941RegToken')
    const path = join(dir, 'new.toml')
    const r = await runCli([
      'register',
      '-c',
      path,
      '-n',
      '-u',
      sim.url,
      '-r',
      'GR1348941RegToken',
      '--name',
      'clever',
      '--executor',
      'memory',
      '--max-flavor',
      'XL',
      '--max-flavor-jobs',
      '3',
      '--tag-list',
      'a, b',
      '--paused',
    ])
    expect(r.code, r.stderr).toBe(0)
    const runner = [...sim.runners.values()][0]!
    expect(runner).toMatchObject({description: 'clever', paused: true, tags: ['a', 'b']})
    expect(mode(path)).toBe(0o600)
    const c = load(path)
    expect(c.quotaComputation).toEqual({referenceRunner: 'clever', referenceFlavor: 'XL', referenceJobsCount: 3})
    expect(c.stateFile).toBe(join(dir, 'new.state.json'))
    expect(c.runners[0]).toMatchObject({
      name: 'clever',
      url: sim.url,
      token: runner.token,
      id: runner.id,
      executor: 'memory',
      executorConfig: {memory_max_flavor: 'XL'},
    })
    expect(r.stdout).toContain(`Runner 'clever' (id ${runner.id}`)
    expect(r.stdout).toContain('the weighted quota is 96.0')
    expect(r.stdout).toContain('It is paused in GitLab')
    expect(r.stdout).toContain(`Next:\n  heptapod-paas-runner quota ${path}`)
    expect(r.stdout).toContain(`heptapod-paas-runner run ${path}`)
    expect(r.stdout).toContain('systemd unit')
    for (const s of ['GR1348941RegToken', runner.token]) expect(r.stdout + r.stderr).not.toContain(s)
  })

  it('without --max-flavor, the heaviest flavor and two of its jobs: the runner can take any job', async () => {
    const runner = sim.createRunner()
    const path = join(dir, 'heaviest.toml')
    const r = await runCli([
      'register',
      path,
      '-n',
      '--url',
      sim.url,
      '--token',
      runner.token,
      '--name',
      'm',
      '--executor',
      'memory',
    ])
    expect(r.code, r.stderr).toBe(0)
    expect(load(path).quotaComputation).toEqual({referenceRunner: 'm', referenceFlavor: '3XL', referenceJobsCount: 2})
    expect(load(path).runners[0]!.executorConfig).toMatchObject({memory_max_flavor: '3XL'})
  })

  it("gitlab-runner's environment variables: CI_SERVER_URL, CI_SERVER_TOKEN, RUNNER_NAME, RUNNER_EXECUTOR, REGISTER_NON_INTERACTIVE, CONFIG_FILE", async () => {
    const runner = sim.createRunner()
    const path = join(dir, 'env.toml')
    const r = await runCli(['register'], {
      env: {
        CI_SERVER_URL: sim.url,
        CI_SERVER_TOKEN: runner.token,
        RUNNER_NAME: 'from-env',
        RUNNER_EXECUTOR: 'memory',
        REGISTER_NON_INTERACTIVE: 'true',
        CONFIG_FILE: path,
      },
    })
    expect(r.code, r.stderr).toBe(0)
    expect(load(path).runners[0]).toMatchObject({name: 'from-env', executor: 'memory', token: runner.token})
  })

  it('REGISTRATION_TOKEN and a default config path in HEPTAPOD_PAAS_RUNNER_CONFIG_DIR', async () => {
    sim.addRegistrationToken('GR1348941EnvReg')
    const data = freshDataDir()
    const r = await runCli(['register', '-n', '--name', 'x', '--executor', 'memory'], {
      dataDir: data,
      env: {CI_SERVER_URL: sim.url, REGISTRATION_TOKEN: 'GR1348941EnvReg'},
    })
    expect(r.code, r.stderr).toBe(0)
    const path = join(data, 'config', 'config.toml')
    expect(load(path).runners[0]!.name).toBe('x')
    // The remembered answers are the user's only.
    expect(mode(join(data, 'config', 'register.json'))).toBe(0o600)
  }, 30_000)

  it('--set: executor keys are written typed; an unknown key exits 2 with "did you mean", before GitLab is contacted', async () => {
    const runner = sim.createRunner()
    const path = join(dir, 'set.toml')
    const typo = await runCli([
      'register',
      path,
      '-n',
      '--url',
      sim.url,
      '--token',
      runner.token,
      '--name',
      'x',
      '--executor',
      'clever-docker',
      ...cleverSets,
      '--set',
      'cc_zoen=par',
    ])
    expect(typo.code).toBe(2)
    expect(typo.stderr).toContain(
      "--set cc_zoen: unknown key (not a global key, a runner key, nor a key of executor clever-docker); did you mean 'cc_zone'?",
    )
    expect(sim.runners.get(runner.token)!.managers.size).toBe(0)
    expect(existsSync(path)).toBe(false)
    const bad = await runCli([
      'register',
      path,
      '-n',
      '--url',
      sim.url,
      '--token',
      runner.token,
      '--name',
      'x',
      '--executor',
      'clever-docker',
      ...cleverSets,
      '--set',
      'cc_deployment_repo_timeout=soon',
    ])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('--set cc_deployment_repo_timeout:')
    const ok = await runCli([
      'register',
      path,
      '-n',
      '--url',
      sim.url,
      '--token',
      runner.token,
      '--name',
      'x',
      '--executor',
      'clever-docker',
      ...cleverSets,
      '--set',
      'cc_zone=rbx',
      '--set',
      'cc_deployment_repo_timeout=45',
      '--set',
      'cc_extra_env.FOO=bar',
      '--set',
      'check_interval=5',
      '--max-flavor',
      'L',
    ])
    expect(ok.code, ok.stderr).toBe(0)
    const c = load(path)
    expect(c.checkInterval).toBe(5)
    expect(c.runners[0]!.executorConfig).toMatchObject({
      cc_zone: 'rbx',
      cc_deployment_repo_timeout: 45,
      cc_max_flavor: 'L',
      cc_extra_env: {CC_ENABLE_HEPTAPOD_RUNNER: 'true', FOO: 'bar'},
    })
    // The Clever API was not reachable (port 9): its usual flavors were offered, and said so.
    expect(ok.stderr).toContain('could not list the flavors of clever-docker')
    expect(c.quotaComputation).toEqual({referenceRunner: 'x', referenceFlavor: 'L', referenceJobsCount: 2})
  }, 60_000)

  it('usage errors exit 2 with a clear line: no terminal without -n, a URL with credentials, a name with control characters, a missing answer', async () => {
    const path = join(dir, 'usage.toml')
    const noTty = await runCli(['register', path])
    expect(noTty.code).toBe(2)
    expect(noTty.stderr).toContain('there is no terminal to ask them on: give --non-interactive (-n)')
    expect(noTty.stderr).not.toContain('ExitPromptError')
    const creds = await runCli([
      'register',
      path,
      '-n',
      '--url',
      'https://user:s3cret@gitlab.example',
      '--token',
      'glrt-whatever1234',
      '--name',
      'x',
      '--executor',
      'memory',
    ])
    expect(creds.code).toBe(2)
    expect(creds.stderr).toContain('must not contain credentials')
    expect(creds.stderr).not.toContain('s3cret')
    const ctl = await runCli([
      'register',
      path,
      '-n',
      '--url',
      sim.url,
      '--token',
      'glrt-whatever1234',
      '--name',
      'bad\u0007name',
      '--executor',
      'memory',
    ])
    expect(ctl.code).toBe(2)
    expect(ctl.stderr).toContain('must not contain control characters')
    const missing = await runCli(['register', path, '-n', '--url', sim.url, '--name', 'x', '--executor', 'memory'])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('the token is missing: give --token (or --registration-token)')
    const exec = await runCli([
      'register',
      path,
      '-n',
      '--url',
      sim.url,
      '--token',
      'glrt-whatever1234',
      '--executor',
      'nope',
    ])
    expect(exec.code).toBe(2)
    expect(existsSync(path)).toBe(false)
    expect(sim.counters.get('POST /runners/verify') ?? 0).toBe(0)
  }, 60_000)

  it('an existing 0644 file: appended byte for byte, ends at 0600, and a quota the new runner cannot fit in is said loudly with the fix', async () => {
    const runner = sim.createRunner()
    const path = join(dir, 'existing.toml')
    const original = `# my runners
concurrent = 7 # keep me
state_file = "${join(dir, 's.json')}"

[quota_computation]
  reference_runner = "first"   # aligned
  reference_flavor = "M"
  reference_jobs_count = 4

[[runners]]
  name = "first"
  url = "${sim.url}"
  token = "glrt-t1_FirstRunnerTokenX"
  executor = "memory"
  memory_max_flavor = "M"
`
    writeFileSync(path, original, {mode: 0o644})
    chmodSync(path, 0o644)
    const r = await runCli([
      'register',
      path,
      '-n',
      '--url',
      sim.url,
      '--token',
      runner.token,
      '--name',
      'second',
      '--executor',
      'memory',
      '--max-flavor',
      '3XL',
    ])
    expect(r.code, r.stderr).toBe(0)
    const text = readFileSync(path, 'utf8')
    expect(text.startsWith(original)).toBe(true)
    expect(mode(path)).toBe(0o600)
    expect(load(path).runners[1]).toMatchObject({
      name: 'second',
      token: runner.token,
      executorConfig: {memory_max_flavor: '3XL'},
    })
    expect(r.stderr).toContain('THIS RUNNER WOULD NEVER TAKE A JOB: the weighted quota of')
    expect(r.stderr).toContain('is 53.8 (weight of 4 jobs with flavor M')
    expect(r.stderr).toContain('less than one job of its maximum flavor 3XL (weight 76.1)')
    expect(r.stderr).toContain('set reference_jobs_count = 6 (quota 80.7)')
  })

  it('refuses, before writing anything, a runner whose short token the file already has', async () => {
    const first = sim.createRunner({token: 'glrt-t1_SameSixRestOfTokenA'})
    const again = sim.createRunner({token: 'glrt-t1_SameSixRestOfTokenB'})
    const path = join(dir, 'twice.toml')
    const args = (token: string, name: string): string[] => [
      'register',
      path,
      '--non-interactive',
      '--url',
      sim.url,
      '--token',
      token,
      '--name',
      name,
      '--executor',
      'memory',
    ]
    expect((await runCli(args(first.token, 'first'))).code).toBe(0)
    const before = readFileSync(path, 'utf8')
    const r = await runCli(args(again.token, 'second'))
    expect(r.code).toBe(1)
    expect(r.stderr).toContain("runners[0] ('first') of")
    expect(r.stderr).toContain("has the same short token 't1_SameSi'")
    expect(readFileSync(path, 'utf8')).toBe(before)
  })

  it('a refused token is said plainly and nothing is written; an unreachable GitLab too', async () => {
    const path = join(dir, 'refused.toml')
    const r = await runCli([
      'register',
      path,
      '--non-interactive',
      '--url',
      sim.url,
      '--token',
      'glrt-NotKnownToken',
      '--name',
      'x',
      '--executor',
      'memory',
    ])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(
      'GitLab refused the token: this runner authentication token is unknown, expired or revoked. Nothing was written.',
    )
    expect(r.stderr).not.toContain('glrt-NotKnownToken')
    const u = await runCli([
      'register',
      path,
      '--non-interactive',
      '--url',
      'http://127.0.0.1:9',
      '--token',
      'glrt-whatever1234',
      '--name',
      'x',
      '--executor',
      'memory',
    ])
    expect(u.code).toBe(1)
    expect(u.stderr).toMatch(/cannot reach http:\/\/127\.0\.0\.1:9: .*Nothing was written\./)
    expect(existsSync(path)).toBe(false)
  })

  it('a legacy registration whose later answer is wrong unregisters the runner it just made', async () => {
    sim.addRegistrationToken('GR1348941Undo')
    const path = join(dir, 'undo.toml')
    const r = await runCli([
      'register',
      path,
      '-n',
      '--url',
      sim.url,
      '--registration-token',
      'GR1348941Undo',
      '--name',
      'x',
      '--executor',
      'memory',
      '--max-flavor',
      'HUGE',
    ])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(
      "unknown flavor 'HUGE' for --max-flavor; flavors of this runner: XS, S, M, L, XL, 2XL, 3XL",
    )
    expect(r.stderr).toContain('The runner just registered was unregistered again.')
    expect(sim.runners.size).toBe(0)
    expect(existsSync(path)).toBe(false)
  })

  it("the original's heptapod-paas-runner-register: CONFIG -c URL -t TOKEN -e EXECUTOR --name --max-concurrency --state-file-path -l", async () => {
    sim.addRegistrationToken('GR1348941Orig')
    const path = join(dir, 'orig.toml')
    const o = await new Promise<{code: number | null; stdout: string; stderr: string}>((resolve) => {
      const c = spawn(
        process.execPath,
        [
          join(REPO, 'bin/register.js'),
          path,
          '-c',
          sim.url,
          '-t',
          'GR1348941Orig',
          '-e',
          'memory',
          '--name',
          'orig',
          '--max-concurrency',
          '3',
          '--state-file-path',
          join(dir, 'orig-state.json'),
          '-l',
          'INFO',
        ],
        {
          cwd: REPO,
          env: {
            ...process.env,
            OCLIF_SKIP_NEW_VERSION_CHECK: 'true',
            HEPTAPOD_PAAS_RUNNER_DATA_DIR: freshDataDir(),
            HEPTAPOD_PAAS_RUNNER_CONFIG_DIR: freshDataDir(),
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      )
      let stdout = ''
      let stderr = ''
      c.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
      c.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      c.on('close', (code) => resolve({code, stdout, stderr}))
    })
    // Without a terminal, the original's program asks nothing: what its flags do not say takes its default.
    expect(o.code, o.stderr).toBe(0)
    const c = load(path)
    expect(c).toMatchObject({concurrent: 3, stateFile: join(dir, 'orig-state.json')})
    expect(c.runners[0]).toMatchObject({name: 'orig', url: sim.url, executor: 'memory'})
    expect([...sim.runners.values()][0]!.description).toBe('orig')
  })
})

describe('register, interactive (injected input)', () => {
  async function scripted() {
    const input = new PassThrough()
    const output = new PassThrough()
    // Each inquirer prompt ends its output stream when it closes; a terminal never ends.
    output.end = () => output
    let screen = ''
    output.on('data', (d: Buffer) => (screen += d.toString()))
    const prompter = await inquirerPrompter({input, output})
    let seen = 0
    const answer = async (prompt: string, keys: string) => {
      await waitUntil(() => screen.indexOf(prompt, seen) >= 0, 10_000, `prompt "${prompt}"`).catch((e: Error) => {
        throw new Error(`${e.message}; screen: ${JSON.stringify(screen.slice(-600))}`)
      })
      seen = screen.indexOf(prompt, seen) + prompt.length
      input.write(keys)
    }
    return {prompter, answer, screen: () => screen}
  }
  const deps = (prompter: Prompter) => ({
    prompter,
    executors: testExecutors,
    coordinator: makeGitLabClient({systemId: 'r_interactive1'}),
    remembered: {},
    now: Date.now,
    defaultConfigPath: join(dir, 'default.toml'),
    defaultName: 'host-name',
    executorDeps: () => defaultExecutorDeps(silentLogger, new Redactor()),
  })

  it("asks every question, the executor's own and the maximum flavor included, and sizes the quota", async () => {
    const clever = new CleverSimulator()
    await clever.start()
    try {
      const runner = sim.createRunner()
      const {prompter, answer, screen} = await scripted()
      const path = join(dir, 'interactive.toml')
      const done = registerRunner({...deps(prompter), given: {settings: [`cc_api_url=${clever.apiUrl}`]}})
      await answer('Configuration file', `${path}\r`)
      await answer('instance URL', `${sim.url}\r`)
      await answer('authentication token', `${runner.token}\r`)
      await answer('Runner name', '\r') // default: the host name
      await answer('Executor', '\u001B[B\r') // the second one listed: clever-docker
      await answer('Which Clever Cloud organisation', '\u001B[B\r') // multi-tenant
      await answer('custom attributes of top-level groups', 'glpat-Interactive\r')
      await answer('Heaviest flavor a job may ask for', '\u001B[A\r') // one above the default (the heaviest): 2XL
      await answer('How many jobs of flavor 2XL may run at once', '3\r')
      const r = await done
      expect(r.created).toBe(true)
      expect(screen()).not.toContain(runner.token) // secrets are masked on screen
      const c = load(path)
      expect(c.runners[0]).toMatchObject({
        name: 'host-name',
        executor: 'clever-docker',
        token: runner.token,
        executorConfig: {
          cc_multi_tenant: true,
          cc_max_flavor: '2XL',
          cc_gitlab_namespace_attributes_token: 'glpat-Interactive',
        },
      })
      expect(c.quotaComputation).toEqual({referenceRunner: 'host-name', referenceFlavor: '2XL', referenceJobsCount: 3})
    } finally {
      await clever.stop()
    }
  })

  it('checks the token right after it is given: a typo is said before any other question', async () => {
    const {prompter, answer, screen} = await scripted()
    const done = registerRunner({...deps(prompter), given: {settings: [], configPath: join(dir, 'typo.toml')}})
    await answer('instance URL', `${sim.url}\r`)
    await answer('authentication token', 'glrt-TypoInTheToken\r')
    await expect(done).rejects.toThrow('GitLab refused the token')
    expect(screen()).not.toContain('Runner name')
  })
})

describe('register in a real terminal (script(1) gives it a pty)', () => {
  const hasScript = spawnSyncOk('script', ['--version'])
  it.skipIf(!hasScript)(
    'prompts, reads the answers typed, writes the file',
    async () => {
      const runner = sim.createRunner()
      const path = join(dir, 'pty.toml')
      const data = freshDataDir()
      mkdirSync(join(data, 'config'), {recursive: true})
      const cmd = `${process.execPath} ${BIN} register ${path} --executor memory --max-flavor-jobs 1`
      const child = spawn('script', ['-qfec', cmd, '/dev/null'], {
        cwd: REPO,
        env: {
          ...process.env,
          OCLIF_SKIP_NEW_VERSION_CHECK: 'true',
          HEPTAPOD_PAAS_RUNNER_DATA_DIR: data,
          HEPTAPOD_PAAS_RUNNER_CONFIG_DIR: join(data, 'config'),
          TERM: 'xterm',
        },
        stdio: ['pipe', 'pipe', 'pipe'],
      })
      let screen = ''
      child.stdout.on('data', (d: Buffer) => (screen += d.toString()))
      const exit = new Promise<number | null>((r) => child.on('close', (code) => r(code)))
      let seen = 0
      const answer = async (prompt: string, keys: string) => {
        await waitUntil(() => screen.indexOf(prompt, seen) >= 0, 20_000, `prompt "${prompt}"`).catch((e: Error) => {
          throw new Error(`${e.message}; screen: ${JSON.stringify(screen.slice(-800))}`)
        })
        seen = screen.indexOf(prompt, seen) + prompt.length
        child.stdin.write(keys)
      }
      await answer('instance URL', `${sim.url}\r`)
      await answer('authentication token', `${runner.token}\r`)
      await answer('Token verified', '')
      await answer('Runner name', 'pty-runner\r')
      await answer('Heaviest flavor a job may ask for', '\r')
      expect(await exit).toBe(0)
      expect(screen).toContain('Next:')
      expect(load(path).runners[0]).toMatchObject({name: 'pty-runner', executorConfig: {memory_max_flavor: '3XL'}})
      expect(mode(path)).toBe(0o600)
    },
    60_000,
  )
})

function spawnSyncOk(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args).status === 0
}

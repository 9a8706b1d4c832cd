import {existsSync, mkdtempSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {PassThrough} from 'node:stream'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {makeGitLabClient} from '../src/adapters/gitlab/make-gitlab-client.js'
import {inquirerPrompter} from '../src/cli/inquirer-prompter.js'
import {registerRunner} from '../src/cli/register.js'
import {parseConfig} from '../src/core/config/parse-config.js'
import {GitLabSimulator} from '../src/sim/gitlab/gitlab-simulator.js'
import {runCli} from './helpers/cli.js'
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

const cleverSets = ['--set', 'cc_multi_tenant=false', '--set', 'cc_orga_id=orga_reg', '--set', 'cc_token=cc-RegSecret-123']

describe('register (real CLI, non-interactive)', () => {
  it('legacy registration token: registers a runner and creates a 0600 file with quota and state defaults', async () => {
    sim.addRegistrationToken('GR1348941RegToken')
    const path = join(dir, 'new.toml')
    const r = await runCli(['register', path, '--non-interactive', '--url', sim.url, '--token', 'GR1348941RegToken', '--name', 'clever', '--executor', 'clever-docker', ...cleverSets])
    expect(r.code, r.stderr).toBe(0)
    const runner = [...sim.runners.values()][0]!
    expect(r.stdout).toContain(`Runner ${runner.id} registered; created ${path}`)
    expect(statSync(path).mode & 0o777).toBe(0o600)
    const c = parseConfig(readFileSync(path, 'utf8'), {file: path, executors: testExecutors, defaultStateFile: 'x'})
    expect(c.quotaComputation).toEqual({referenceRunner: 'clever', referenceFlavor: 'M', referenceJobsCount: 4})
    expect(c.stateFile).toBe(join(dir, 'new.state.json'))
    expect(c.runners[0]).toMatchObject({name: 'clever', url: sim.url, token: runner.token, id: runner.id, executor: 'clever-docker', executorConfig: {cc_orga_id: 'orga_reg', cc_token: 'cc-RegSecret-123', cc_extra_env: {CC_ENABLE_HEPTAPOD_RUNNER: 'true'}}})
    for (const s of ['GR1348941RegToken', runner.token, 'cc-RegSecret-123']) expect(r.stdout + r.stderr).not.toContain(s)
  })

  it('glrt- token: verifies it and appends to an existing file, keeping its text and comments byte for byte', async () => {
    const runner = sim.createRunner()
    const path = join(dir, 'existing.toml')
    const original = '# my runners\nconcurrent = 7 # keep me\nstate_file = "/tmp/s.json"\n\n[quota_computation]\n  reference_runner = "first"   # aligned\n  reference_flavor = "M"\n  reference_jobs_count = 2\n'
    writeFileSync(path, original)
    const r = await runCli(['register', path, '--non-interactive', '--url', sim.url, '--token', runner.token, '--name', 'first', '--executor', 'clever-docker', '--set', 'cc_multi_tenant=true', '--set', 'cc_gitlab_namespace_attributes_token=glpat-AttrSecret'])
    expect(r.code, r.stderr).toBe(0)
    const text = readFileSync(path, 'utf8')
    expect(text.startsWith(original)).toBe(true)
    const c = parseConfig(text, {file: path, executors: testExecutors, defaultStateFile: 'x'})
    expect(c.runners[0]).toMatchObject({token: runner.token, id: runner.id, executorConfig: {cc_multi_tenant: true}})
    expect(sim.runners.get(runner.token)!.managers.size).toBe(1)
  })

  it('refuses, before writing anything, a runner whose short token the file already has', async () => {
    const first = sim.createRunner({token: 'glrt-t1_SameSixRestOfTokenA'})
    const again = sim.createRunner({token: 'glrt-t1_SameSixRestOfTokenB'})
    const path = join(dir, 'twice.toml')
    const args = (token: string, name: string): string[] => ['register', path, '--non-interactive', '--url', sim.url, '--token', token, '--name', name, '--executor', 'memory']
    expect((await runCli(args(first.token, 'first'))).code).toBe(0)
    const before = readFileSync(path, 'utf8')
    const r = await runCli(args(again.token, 'second'))
    expect(r.code).toBe(1)
    expect(r.stderr).toContain("runners[0] ('first') of")
    expect(r.stderr).toContain("has the same short token 't1_SameSi'")
    expect(readFileSync(path, 'utf8')).toBe(before)
    expect(sim.runners.get(again.token)!.managers.size).toBe(0)
  })

  it('a refused token is said plainly and nothing is written', async () => {
    const path = join(dir, 'refused.toml')
    const r = await runCli(['register', path, '--non-interactive', '--url', sim.url, '--token', 'glrt-NotKnownToken', '--name', 'x', '--executor', 'clever-docker', ...cleverSets])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('GitLab refused the token: this runner authentication token is unknown, expired or revoked. Nothing was written.')
    expect(r.stderr).not.toContain('glrt-NotKnownToken')
    expect(existsSync(path)).toBe(false)
  })

  it('an unreachable GitLab is said plainly and nothing is written', async () => {
    const path = join(dir, 'unreachable.toml')
    const r = await runCli(['register', path, '--non-interactive', '--url', 'http://127.0.0.1:9', '--token', 'glrt-whatever1234', '--name', 'x', '--executor', 'memory'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/cannot reach http:\/\/127\.0\.0\.1:9: .*Nothing was written\./)
    expect(existsSync(path)).toBe(false)
  })

  it('checks the parent directory first', async () => {
    const r = await runCli(['register', join(dir, 'missing-dir', 'c.toml'), '--non-interactive', '--url', sim.url, '--token', 'glrt-x12345678', '--name', 'x', '--executor', 'memory'])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('does not exist: create it first')
  })
})

describe('register (interactive, injected input)', () => {
  it('asks every question, the executor\'s own included, and writes the answers', async () => {
    const runner = sim.createRunner()
    const input = new PassThrough()
    const output = new PassThrough()
    // Each inquirer prompt ends its output stream when it closes; a terminal never ends.
    output.end = () => output
    let screen = ''
    output.on('data', (d: Buffer) => (screen += d.toString()))
    const prompter = await inquirerPrompter({input, output})
    const path = join(dir, 'interactive.toml')
    const done = registerRunner({given: {settings: {}}, prompter, executors: testExecutors, coordinator: makeGitLabClient({systemId: 'r_interactive1'}), remembered: {}, now: Date.now})
    let seen = 0
    const answer = async (prompt: string, keys: string) => {
      await waitUntil(() => screen.indexOf(prompt, seen) >= 0, 10_000, `prompt "${prompt}"`).catch((e: Error) => {
        throw new Error(`${e.message}; screen: ${JSON.stringify(screen.slice(-600))}`)
      })
      seen = screen.indexOf(prompt, seen) + prompt.length
      input.write(keys)
    }
    await answer('Configuration file', `${path}\r`)
    await answer('instance URL', `${sim.url}\r`)
    await answer('authentication token', `${runner.token}\r`)
    await answer('Runner name', '\r') // default
    await answer('Executor', '\u001B[B\r') // the second one listed: clever-docker
    await answer('Which Clever Cloud organisation', '\u001B[B\r') // multi-tenant
    await answer('custom attributes of top-level groups', 'glpat-Interactive\r')
    const r = await done
    expect(r.created).toBe(true)
    expect(screen).not.toContain(runner.token) // secrets are masked on screen
    const c = parseConfig(readFileSync(path, 'utf8'), {file: path, executors: testExecutors, defaultStateFile: 'x'})
    expect(c.runners[0]).toMatchObject({name: 'paas-runner', executor: 'clever-docker', token: runner.token, executorConfig: {cc_multi_tenant: true, cc_gitlab_namespace_attributes_token: 'glpat-Interactive'}})
  })
})

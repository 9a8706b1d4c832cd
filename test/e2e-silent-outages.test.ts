import {spawn, type ChildProcess} from 'node:child_process'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {CleverSimulator} from '../src/sim/clever/clever-simulator.js'
import {GitLabSimulator} from '../src/sim/gitlab/gitlab-simulator.js'
import {BIN, freshDataDir, REPO, runCli} from './helpers/cli.js'
import {waitUntil} from './helpers/wait.js'

const CC_TOKEN = 'cc-silent-orga-token-SeCrEt'
let gitlab: GitLabSimulator
let clever: CleverSimulator
let dir: string
let child: ChildProcess | undefined

beforeEach(async () => {
  gitlab = new GitLabSimulator({longPollMs: 5_000})
  clever = new CleverSimulator({jobDurationMs: 100})
  await gitlab.start()
  await clever.start()
  clever.addOrg('orga_silent', {token: CC_TOKEN})
  dir = mkdtempSync(join(tmpdir(), 'hpr-silent-'))
})
afterEach(async () => {
  child?.kill('SIGKILL')
  await clever.stop()
  await gitlab.stop()
})

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as {port: number}).port
  await new Promise((r) => s.close(r))
  return port
}

/** What `register` wrote before it learnt to size the quota: 4 × M, no max flavor (3XL = 76.1 > 53.8). */
function writeConfig(runner: string, extra: string, globals = ''): string {
  const path = join(dir, 'config.toml')
  writeFileSync(
    path,
    `check_interval = 0.2
${globals}
[quota_computation]
  reference_runner = "clever"
  reference_flavor = "M"
  reference_jobs_count = 4
[[runners]]
  name = "clever"
  url = "${gitlab.url}"
  token = "${runner}"
  executor = "clever-docker"
  cc_api_url = "${clever.apiUrl}"
  cc_orga_id = "orga_silent"
  cc_token = "${CC_TOKEN}"
${extra}
`,
  )
  return path
}

describe('no silent outage (real CLI, simulators)', () => {
  it('a quota that can never hold the heaviest flavor: run refuses with exit 2 and the fix, unless --allow-idle', async () => {
    const config = writeConfig(gitlab.createRunner().token, '')
    const r = await runCli(['run', config])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("runners[0]: runner 'clever' could never take a job: the weighted quota 53.8")
    expect(r.stderr).toContain('heaviest flavor, 76.1')
    expect(r.stderr).toMatch(
      /Raise \[quota_computation\] reference_jobs_count .* set this runner's max flavor \(cc_max_flavor\)/,
    )
    // With --allow-idle it starts, and says why that runner takes nothing.
    const idle = await runCli(['run', config, '--allow-idle', '--poll-cycles', '1'])
    expect(idle.code, idle.stderr).toBe(0)
    expect(idle.stderr).toContain(
      "intake stopped: the quota (53.8) can never hold this runner's heaviest flavor (76.1)",
    )
  })

  it('cc_max_flavor naming no flavor of the catalogue: ERROR, intake stopped with the reason in /status and /metrics; quota exits 2 naming the key', async () => {
    const port = await freePort()
    const config = writeConfig(
      gitlab.createRunner().token,
      '  cc_max_flavor = "XXL"',
      `listen_address = "127.0.0.1:${port}"\nstate_file = "${join(dir, 'state.json')}"`,
    )
    const q = await runCli(['quota', config])
    expect(q.code).toBe(2)
    expect(q.stderr).toContain(
      "runners[0].cc_max_flavor: the flavor 'XXL' is not in the catalogue; available flavors: XS, S, M, L, XL, 2XL, 3XL",
    )
    let out = ''
    child = spawn(process.execPath, [BIN, 'run', config], {
      cwd: REPO,
      env: {...process.env, OCLIF_SKIP_NEW_VERSION_CHECK: 'true', HEPTAPOD_PAAS_RUNNER_DATA_DIR: freshDataDir()},
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()))
    await waitUntil(() => out.includes('intake stopped'), 30_000, 'the ERROR line')
    expect(out).toMatch(
      /"level":"?(error|50)"?.*intake stopped: runners\[0\]\.cc_max_flavor: the flavor 'XXL' is not in the catalogue|ERROR.*intake stopped: runners\[0\]\.cc_max_flavor/,
    )
    const status = (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as {
      runners: Array<{intake: {state: string; code?: string; reason: string}}>
    }
    expect(status.runners[0]!.intake).toMatchObject({state: 'stopped', code: 'flavor_config'})
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
    expect(metrics).toMatch(/hpr_intake_stopped\{runner="clever",code="flavor_config"\} 1/)
  })
})

import {mkdtempSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {makeGitLabClient} from '../src/adapters/gitlab/make-gitlab-client.js'
import {FsStateFile} from '../src/adapters/state/fs-state-file.js'
import {StateStore} from '../src/core/state/state-store.js'
import {GitLabSimulator} from '../src/sim/gitlab/gitlab-simulator.js'
import {runCli} from './helpers/cli.js'

let sim: GitLabSimulator
let dir: string
beforeEach(async () => {
  sim = new GitLabSimulator()
  await sim.start()
  dir = mkdtempSync(join(tmpdir(), 'hpr-admin-'))
})
afterEach(async () => {
  await sim.stop()
})

function file(runners: Array<{name: string; token: string}>): string {
  return `# my runners
concurrent = 4   # aligned comment

[quota_computation]
  reference_runner = "${runners[0]!.name}"
  reference_flavor = "M"
  reference_jobs_count = 2
${runners
  .map(
    (r) => `
# the runner ${r.name}
[[runners]]
  name = "${r.name}"
  url = "${sim.url}"
  token = "${r.token}"
  executor = "memory"
  [runners.docker]
    image = "debian"
`,
  )
  .join('')}`
}

describe('list, verify, unregister', () => {
  it('list shows names, executors, URLs and short tokens, never a token', async () => {
    const a = sim.createRunner()
    const path = join(dir, 'l.toml')
    writeFileSync(path, file([{name: 'a', token: a.token}]))
    const r = await runCli(['list', '-c', path])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain(`Listing configs  config=${path}`)
    expect(r.stdout).toMatch(new RegExp(`a\\s+Executor=memory Token=${a.token.slice(5, 14)} URL=${sim.url}`))
    expect(r.stdout).not.toContain(a.token)
  })

  it('verify says which runners GitLab still knows; --delete removes the others, every other byte kept', async () => {
    const a = sim.createRunner()
    const gone = 'glrt-t1_DeletedInGitLabXyz'
    const path = join(dir, 'v.toml')
    const text = file([
      {name: 'a', token: a.token},
      {name: 'b', token: gone},
    ])
    writeFileSync(path, text, {mode: 0o600})
    const plain = await runCli(['verify', path])
    expect(plain.code).toBe(1)
    expect(plain.stdout).toMatch(/is valid\s+a \(/)
    expect(plain.stdout).toMatch(/is removed\s+b \(/)
    expect(readFileSync(path, 'utf8')).toBe(text)
    const del = await runCli(['verify', path, '--delete'])
    expect(del.code, del.stderr).toBe(0)
    // Everything up to b's header, its comment included, is kept byte for byte; b's section is gone.
    expect(readFileSync(path, 'utf8')).toBe(text.slice(0, text.indexOf('[[runners]]', text.indexOf('# the runner b'))))
    expect(readFileSync(path, 'utf8')).not.toContain(gone)
    expect(statSync(path).mode & 0o777).toBe(0o600)
    for (const out of [plain.stdout, plain.stderr, del.stdout, del.stderr]) expect(out).not.toContain(a.token)
  })

  it("unregister --name removes this daemon's runner manager in GitLab (its system id from the state file) and the section from the file", async () => {
    const a = sim.createRunner()
    const b = sim.createRunner()
    const path = join(dir, 'u.toml')
    const text = file([
      {name: 'a', token: a.token},
      {name: 'b', token: b.token},
    ])
    writeFileSync(path, text)
    const {store} = await StateStore.open(new FsStateFile(join(dir, 'u.state.json')), {now: Date.now})
    await store.setSystemId('r_daemonSystem1')
    await store.close()
    await makeGitLabClient({systemId: 'r_daemonSystem1'}).verify(sim.url, b.token)
    expect(sim.runners.get(b.token)!.managers.has('r_daemonSystem1')).toBe(true)
    const r = await runCli(['unregister', path, '--name', 'b'])
    expect(r.code, r.stderr).toBe(0)
    expect(sim.runners.get(b.token)!.managers.has('r_daemonSystem1')).toBe(false)
    const after = readFileSync(path, 'utf8')
    expect(after).not.toContain(b.token)
    expect(after.startsWith(text.slice(0, text.indexOf('# the runner b')))).toBe(true)
  })

  it('unregister --url --token, --all-runners, and its usage errors (exit 2)', async () => {
    const a = sim.createRunner()
    const b = sim.createRunner()
    const path = join(dir, 'w.toml')
    writeFileSync(
      path,
      file([
        {name: 'a', token: a.token},
        {name: 'b', token: b.token},
      ]),
    )
    expect((await runCli(['unregister', path])).code).toBe(2)
    expect((await runCli(['unregister', path, '--name', 'a', '--all-runners'])).code).toBe(2)
    expect((await runCli(['unregister', path, '--url', sim.url])).code).toBe(2)
    expect((await runCli(['unregister', path, '--name', 'nobody'])).code).toBe(2)
    const one = await runCli(['unregister', path, '--url', `${sim.url}/`, '--token', a.token])
    expect(one.code, one.stderr).toBe(0)
    expect(one.stderr).toContain("reference_runner names 'a', which is gone")
    expect(readFileSync(path, 'utf8')).not.toContain(a.token)
    const all = await runCli(['unregister', path, '--all-runners'])
    expect(all.code, all.stderr).toBe(0)
    expect(readFileSync(path, 'utf8')).not.toContain('[[runners]]')
    expect(readFileSync(path, 'utf8')).toContain('concurrent = 4   # aligned comment')
  })
})

import {spawn, type ChildProcess} from 'node:child_process'

import {afterEach, describe, expect, it} from 'vitest'

import {BIN, freshDataDir, REPO, runCli} from './helpers/cli.js'

let children: ChildProcess[] = []
afterEach(() => {
  for (const c of children) c.kill('SIGKILL')
  children = []
})

/** Starts `sim <which>` and resolves with the JSON line it prints. */
function startSim(args: string[]): Promise<{child: ChildProcess; info: Record<string, any>}> {
  const child = spawn(process.execPath, [BIN, 'sim', ...args], {
    cwd: REPO,
    env: {...process.env, OCLIF_SKIP_NEW_VERSION_CHECK: 'true', HEPTAPOD_PAAS_RUNNER_DATA_DIR: freshDataDir()},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  return new Promise((resolve, reject) => {
    let out = ''
    let err = ''
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const nl = out.indexOf('\n')
      if (nl >= 0) resolve({child, info: JSON.parse(out.slice(0, nl)) as Record<string, any>})
    })
    child.once('exit', (code) => reject(new Error(`sim exited ${code}: ${err}`)))
  })
}

const exited = (c: ChildProcess) =>
  new Promise<number | null>((r) => (c.exitCode !== null ? r(c.exitCode) : c.once('exit', (code) => r(code))))

describe('heptapod-paas-runner sim gitlab|clever (hidden commands)', () => {
  it('are documented by --help and hidden from the main help', async () => {
    const main = await runCli(['--help'])
    expect(main.stdout).not.toMatch(/^\s+sim\b/m)
    for (const which of ['gitlab', 'clever']) {
      const r = await runCli(['sim', which, '--help'])
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout).toMatch(/--port=<value>\s+port on 127\.0\.0\.1; 0 picks a free one/)
    }
  })

  it('sim clever serves on a free port and prints credentials that work; sim gitlab likewise; SIGTERM stops them', async () => {
    const clever = await startSim(['clever', '--port', '0', '--repo-ready-ms', '0'])
    expect(clever.info).toMatchObject({
      simulator: 'clever',
      apiUrl: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/v2$/),
      config: {cc_orga_id: expect.stringMatching(/^orga_/)},
    })
    const self = await fetch(`${clever.info.apiUrl}/organisations/${clever.info.orgaId}/applications`, {
      headers: {authorization: `token ${clever.info.token}`},
    })
    expect([self.status, await self.json()]).toEqual([200, []])
    const gitlab = await startSim(['gitlab', '--watch-token', 'glpat-watch-1'])
    const job = await fetch(`${gitlab.info.url}/_sim/jobs`, {
      method: 'POST',
      headers: {'content-type': 'application/json'},
      body: '{"flavor":"S"}',
    })
    const {id} = (await job.json()) as {id: number}
    const seen = await fetch(`${gitlab.info.url}/api/v4/projects/42/jobs/${id}`, {
      headers: {'private-token': 'glpat-watch-1'},
    })
    expect([seen.status, ((await seen.json()) as {status: string}).status]).toEqual([200, 'pending'])
    for (const s of [clever, gitlab]) {
      s.child.kill('SIGTERM')
      expect(await exited(s.child)).toBe(0)
    }
  })

  it('a port in use is a clear error with exit 2, not a stack trace', async () => {
    const first = await startSim(['gitlab'])
    const port = new URL(first.info.url as string).port
    for (const which of ['gitlab', 'clever']) {
      const r = await runCli(['sim', which, '--port', port])
      expect(r.code).toBe(2)
      expect(r.stderr.trim()).toBe(
        `error: port ${port} is already in use on 127.0.0.1: choose another --port, or --port 0 for a free one`,
      )
    }
  })
})

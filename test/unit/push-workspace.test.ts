import {execFileSync} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {contextObjects, pushBuildContext} from '../../src/plugins/clever-docker/deploy-push.js'
import {looseObject} from '../../src/plugins/clever-docker/loose-objects.js'
import {PushWorkspace, type Workspace} from '../../src/plugins/clever-docker/push-workspace.js'
import {REPO} from '../helpers/cli.js'

/** The object files under a git directory, as `xx/rest`. */
function objectFiles(gitDir: string): string[] {
  const root = join(gitDir, 'objects')
  return readdirSync(root)
    .flatMap((d) => readdirSync(join(root, d)).map((f) => `${d}/${f}`))
    .sort()
}

const path = (o: {sha: string}): string => `${o.sha.slice(0, 2)}/${o.sha.slice(2)}`

describe('push workspace', () => {
  it('pushes share one git directory: each job pushes its commit by id, and its own objects (job.json holds its token) are gone after its push', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpr-fakegit-'))
    const saved = process.env.PATH
    try {
      // A stand-in for git that records the git directory, its objects at push time, and its arguments.
      writeFileSync(
        join(dir, 'git'),
        `#!/bin/sh\nsleep 0.2\necho "$GIT_DIR $@" >> ${dir}/calls\nfind "$GIT_DIR/objects" -type f | sed 's|.*/objects/||' | sort > ${dir}/objects-$$\necho "*\t$5\t[new branch]"\n`,
        {mode: 0o755},
      )
      process.env.PATH = `${dir}:${saved}`
      const files = (id: number) => ({Dockerfile: 'FROM x\n', 'runner.toml': 'a = 1\n', 'job.json': `{"id":${id}}`})
      const pushed = await Promise.all(
        [1, 2, 3].map((id) =>
          pushBuildContext(files(id), {url: `https://git.example/app_${id}.git`, basicAuth: 'eDp5'}),
        ),
      )
      expect(pushed).toEqual([true, true, true])
      const calls = readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n')
      expect(calls).toHaveLength(3)
      const gitDirs = new Set(calls.map((c) => c.split(' ')[0]!))
      expect(gitDirs.size).toBe(1)
      const gitDir = [...gitDirs][0]!
      const now = Math.floor(Date.now() / 1000)
      for (const id of [1, 2, 3]) {
        // The commit is made in the same second as the push, or the next.
        const candidates = [now - 1, now].map((t) => contextObjects(files(id), t))
        const c = candidates.find((x) => calls.some((l) => l.endsWith(`${x.commit}:refs/heads/master`)))
        expect(c, `job ${id}'s commit pushed by id`).toBeDefined()
        // While it pushed, all five of its objects were there.
        const seen = readdirSync(dir)
          .filter((f) => f.startsWith('objects-'))
          .map((f) => readFileSync(join(dir, f), 'utf8').trim().split('\n'))
        expect(seen.some((s) => c!.objects.every((o) => s.includes(path(o))))).toBe(true)
        // Now only the runner's shared blobs are.
        for (const o of c!.own) expect(objectFiles(gitDir)).not.toContain(path(o))
        for (const o of c!.shared) expect(objectFiles(gitDir)).toContain(path(o))
      }
      expect(readdirSync(join(gitDir, 'objects'), {recursive: true}).filter((f) => String(f).includes('.tmp'))).toEqual(
        [],
      )
    } finally {
      process.env.PATH = saved
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('is a git directory git reads: the objects written make a commit git fsck accepts', async () => {
    const ws = new PushWorkspace()
    const {commit, shared, own} = contextObjects(
      {Dockerfile: 'FROM x\n', 'runner.toml': 'a = 1\n', 'job.json': '{"id":1}'},
      1_700_000_000,
    )
    await ws.with(async (w) => {
      await Promise.all([...shared.map((o) => w.putShared(o)), ...own.map((o) => w.putOwn(o))])
      const env = {PATH: process.env.PATH!, HOME: w.home, GIT_CONFIG_NOSYSTEM: '1', GIT_DIR: w.gitDir}
      execFileSync('git', ['update-ref', 'refs/heads/master', commit], {env})
      execFileSync('git', ['fsck', '--strict', '--no-dangling'], {env})
      expect(execFileSync('git', ['show', 'master:job.json'], {env}).toString()).toBe('{"id":1}')
      ws.broken(w)
    })
  })

  it('a workspace older than its age, or given up after a failed push, is replaced, and removed once its last push ends', async () => {
    let now = 0
    const pushes = new PushWorkspace({maxAgeMs: 1000, now: () => now})
    let first!: Workspace
    let release!: () => void
    const held = pushes.with(async (ws) => {
      first = ws
      await new Promise<void>((r) => (release = r))
    })
    await new Promise((r) => setTimeout(r, 10))
    const again = await pushes.with(async (ws) => ws)
    expect(again).toBe(first)
    now = 1500
    const second = await pushes.with(async (ws) => ws)
    expect(second).not.toBe(first)
    // The first is still in use by a push: it stays until that push ends.
    expect(existsSync(first.gitDir)).toBe(true)
    release()
    await held
    expect(existsSync(first.home)).toBe(false)
    // Given up: the next push gets a fresh one; this one goes at once, nobody using it.
    pushes.broken(second)
    const third = await pushes.with(async (ws) => ws)
    expect(third).not.toBe(second)
    await new Promise((r) => setTimeout(r, 50))
    expect(existsSync(second.home)).toBe(false)
    pushes.broken(third)
  })

  it('shared objects are written once, whole, even by pushes at the same moment', async () => {
    const pushes = new PushWorkspace()
    const blob = looseObject('blob', Buffer.alloc(1 << 20, 'x'))
    await pushes.with(async (ws) => {
      await Promise.all(Array.from({length: 20}, () => ws.putShared(blob)))
      expect(objectFiles(ws.gitDir)).toEqual([path(blob)])
      expect(readFileSync(join(ws.gitDir, 'objects', path(blob)))).toEqual(blob.deflated)
      pushes.broken(ws)
    })
  })

  it('a process that exits removes its workspace', () => {
    const module = join(REPO, 'dist/plugins/clever-docker/push-workspace.js')
    const home = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const {PushWorkspace} = await import(${JSON.stringify(module)}); await new PushWorkspace().with(async (ws) => console.log(ws.home))`,
      ],
      {encoding: 'utf8'},
    ).trim()
    expect(home).toContain('hpr-push-')
    expect(existsSync(home)).toBe(false)
  })
})

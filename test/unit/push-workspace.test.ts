import {execFileSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {contextObjects, pushBuildContext} from '../../src/plugins/clever-docker/deploy-push.js'
import {looseObject} from '../../src/plugins/clever-docker/loose-objects.js'
import {PushWorkspace, type Workspace} from '../../src/plugins/clever-docker/push-workspace.js'
import {REPO} from '../helpers/cli.js'
import {withFakeGit} from '../helpers/fake-git.js'
import {waitUntil} from '../helpers/wait.js'

/** The object files under a git directory, as `xx/rest`. */
function objectFiles(gitDir: string): string[] {
  const root = join(gitDir, 'objects')
  return readdirSync(root)
    .flatMap((d) => readdirSync(join(root, d)).map((f) => `${d}/${f}`))
    .sort()
}

const path = (o: {sha: string}): string => `${o.sha.slice(0, 2)}/${o.sha.slice(2)}`

describe('push workspace', () => {
  it('pushes share one git directory: each job pushes its commit by id, and its own objects (runner.toml and job.json hold tokens) are gone after its push', async () => {
    // A stand-in for git that records the git directory, its objects at push time, and its arguments.
    await withFakeGit(
      (dir) =>
        `sleep 0.2\necho "$GIT_DIR $@" >> ${dir}/calls\nfind "$GIT_DIR/objects" -type f | sed 's|.*/objects/||' | sort > ${dir}/objects-$$\necho "*\t$5\t[new branch]"\n`,
      async (dir) => {
        const files = (id: number) => ({
          Dockerfile: 'FROM x\n',
          'runner.toml': 'token = "glrt-runner-secret"\n',
          'job.json': `{"id":${id}}`,
        })
        const from = Math.floor(Date.now() / 1000)
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
        const to = Math.floor(Date.now() / 1000)
        for (const id of [1, 2, 3]) {
          // The commit is dated when its push began: some second of the test's.
          const candidates = Array.from({length: to - from + 1}, (_, i) => contextObjects(files(id), from + i))
          const c = candidates.find((x) => calls.some((l) => l.endsWith(`${x.commit}:refs/heads/master`)))
          expect(c, `job ${id}'s commit pushed by id`).toBeDefined()
          // While it pushed, all five of its objects were there.
          const seen = readdirSync(dir)
            .filter((f) => f.startsWith('objects-'))
            .map((f) => readFileSync(join(dir, f), 'utf8').trim().split('\n'))
          expect(seen.some((s) => c!.objects.every((o) => s.includes(path(o))))).toBe(true)
          // Now only the Dockerfile's blob is: runner.toml holds the runner's token, job.json the job's.
          for (const o of c!.own) expect(objectFiles(gitDir)).not.toContain(path(o))
          expect(c!.shared.map(path)).toEqual([path(looseObject('blob', Buffer.from('FROM x\n')))])
          for (const o of c!.shared) expect(objectFiles(gitDir)).toContain(path(o))
        }
        expect(
          readdirSync(join(gitDir, 'objects'), {recursive: true}).filter((f) => String(f).includes('.tmp')),
        ).toEqual([])
      },
    )
  })

  it('is a git directory git reads: the objects written make a commit git fsck accepts', async () => {
    const ws = new PushWorkspace()
    const {commit, shared, own} = contextObjects(
      {Dockerfile: 'FROM x\n', 'runner.toml': 'a = 1\n', 'job.json': '{"id":1}'},
      1_700_000_000,
    )
    await ws.with(async (w) => {
      await w.stage(shared, own)
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
    await waitUntil(() => !existsSync(second.home), 10_000, 'the workspace given up removed')
    pushes.broken(third)
  })

  it('a kept object (the Dockerfile) is written once per workspace, however many pushes stage it', async () => {
    const pushes = new PushWorkspace()
    const blob = looseObject('blob', Buffer.alloc(1 << 20, 'x'))
    await pushes.with(async (ws) => {
      const file = join(ws.gitDir, 'objects', path(blob))
      await Promise.all(Array.from({length: 20}, () => ws.stage([blob], [])))
      expect(objectFiles(ws.gitDir)).toEqual([path(blob)])
      expect(readFileSync(file)).toEqual(blob.deflated)
      const written = statSync(file).mtimeMs
      await new Promise((r) => setTimeout(r, 20))
      await ws.stage([blob], [])
      expect(statSync(file).mtimeMs).toBe(written)
      pushes.broken(ws)
    })
  })

  it('an object several pushes hold (runner.toml, the same for every job of a runner) stays until the last lets go', async () => {
    const pushes = new PushWorkspace()
    const toml = looseObject('blob', Buffer.from('token = "glrt-runner-secret"\n'))
    const [a, b] = [looseObject('blob', Buffer.from('{"id":1}')), looseObject('blob', Buffer.from('{"id":2}'))]
    await pushes.with(async (ws) => {
      const file = (o: {sha: string}) => join(ws.gitDir, 'objects', path(o))
      const first = await ws.stage([], [toml, a])
      const second = await ws.stage([], [toml, b])
      expect(await first.unstage()).toBe(true)
      expect(existsSync(file(a))).toBe(false)
      expect(existsSync(file(toml))).toBe(true)
      expect(await second.unstage()).toBe(true)
      expect(existsSync(file(toml))).toBe(false)
      // Held again: written again.
      const third = await ws.stage([], [toml])
      expect(readFileSync(file(toml))).toEqual(toml.deflated)
      expect(await third.unstage()).toBe(true)
      pushes.broken(ws)
    })
  })

  it('a write that fails fails the push only once every other write has ended: none of its objects is left', async () => {
    const pushes = new PushWorkspace()
    const {shared, own} = contextObjects(
      // A large job.json: its write is still going on when the commit's fails.
      {
        Dockerfile: 'FROM x\n',
        'runner.toml': 'token = "secret"\n',
        'job.json': randomBytes(8 << 20).toString('base64'),
      },
      1_700_000_000,
    )
    await pushes.with(async (ws) => {
      // The commit's fan-out directory cannot be made: a file has its name.
      const commit = own.at(-1)!
      writeFileSync(join(ws.gitDir, 'objects', commit.sha.slice(0, 2)), '')
      const left = () => own.filter((o) => existsSync(join(ws.gitDir, 'objects', path(o))))
      await expect(ws.stage(shared, own)).rejects.toThrow(/EEXIST|ENOTDIR/)
      expect(left()).toEqual([])
      // A write still going on when it failed would land after: none does.
      await new Promise((r) => setTimeout(r, 200))
      expect(left()).toEqual([])
      pushes.broken(ws)
    })
  })

  it('pushes that stage the same object at the same moment each hold it: it stays until the last lets go', async () => {
    const pushes = new PushWorkspace()
    const toml = looseObject('blob', Buffer.from('token = "t"\n'))
    await pushes.with(async (ws) => {
      const [first, second] = await Promise.all([ws.stage([], [toml]), ws.stage([], [toml])])
      expect(await first!.unstage()).toBe(true)
      expect(existsSync(join(ws.gitDir, 'objects', path(toml)))).toBe(true)
      expect(await second!.unstage()).toBe(true)
      expect(existsSync(join(ws.gitDir, 'objects', path(toml)))).toBe(false)
      pushes.broken(ws)
    })
  })

  it('a push whose objects cannot be written fails, and the next push starts from a fresh workspace', async () => {
    await withFakeGit(
      (dir) => `echo "$GIT_DIR" >> ${dir}/dirs\necho "*\t$5\t[new branch]"\n`,
      async (dir) => {
        const files = (id: number) => ({Dockerfile: 'FROM y\n', 'runner.toml': 'a = 2\n', 'job.json': `{"id":${id}}`})
        const target = {url: 'https://git.example/app_1.git', basicAuth: 'eDp5'}
        expect(await pushBuildContext(files(1), target)).toBe(true)
        const first = readFileSync(join(dir, 'dirs'), 'utf8').trim()
        // Every fan-out directory but the Dockerfile's becomes a file: no other object can be written.
        const keep = path(looseObject('blob', Buffer.from('FROM y\n'))).slice(0, 2)
        for (let i = 0; i < 256; i++) {
          const name = i.toString(16).padStart(2, '0')
          if (name === keep) continue
          rmSync(join(first, 'objects', name), {recursive: true, force: true})
          writeFileSync(join(first, 'objects', name), '')
        }
        await expect(pushBuildContext(files(2), target)).rejects.toThrow()
        expect(await pushBuildContext(files(3), target)).toBe(true)
        const dirs = readFileSync(join(dir, 'dirs'), 'utf8').trim().split('\n')
        expect(dirs).toHaveLength(2)
        expect(dirs[1]).not.toBe(first)
        await waitUntil(() => !existsSync(first), 10_000, 'the broken workspace removed')
      },
    )
  })

  it('many workspaces alive at once (retired, still in use) add one exit listener in all', async () => {
    const before = process.listenerCount('exit')
    let now = 0
    const pushes = new PushWorkspace({maxAgeMs: 1, now: () => now})
    const releases: Array<() => void> = []
    const held: Array<Promise<void>> = []
    const homes = new Set<string>()
    for (let i = 0; i < 15; i++) {
      now += 10 // older than its age: each push gets a workspace of its own, the last one retired
      held.push(
        pushes.with((ws) => {
          homes.add(ws.home)
          return new Promise<void>((r) => releases.push(r))
        }),
      )
      await waitUntil(() => releases.length === i + 1, 10_000, 'a workspace in use')
    }
    expect(homes.size).toBe(15)
    expect(process.listenerCount('exit') - before).toBeLessThanOrEqual(1)
    for (const r of releases) r()
    await Promise.all(held)
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

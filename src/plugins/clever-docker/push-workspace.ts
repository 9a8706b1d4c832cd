import {randomBytes} from 'node:crypto'
import {rmSync} from 'node:fs'
import {mkdir, mkdtemp, rename, rm, unlink, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {LooseObject} from './loose-objects.js'

/** How long one workspace serves before the next push starts a fresh one: far below any tmp cleaner's age. */
const MAX_AGE_MS = 3_600_000

/**
 * The git directory the pushes of this process work in, shared by every launch: a launch writes
 * its own objects (job.json, which holds the job's token, its tree and commit) next to the
 * runner's shared blobs, pushes its commit by id, and removes its own objects. Compared with a
 * fresh directory per launch, it spares a launch a dozen filesystem calls to lay one out and as
 * many to remove it. A push only reads the directory, so pushes share it safely; shared objects
 * are written atomically (another push may be reading them).
 */
export class PushWorkspace {
  private current?: Promise<Workspace>

  constructor(private readonly o: {maxAgeMs?: number; now?: () => number} = {}) {}

  /** Runs `use` in the workspace (a fresh one when the last is too old, or was given up by `broken`). */
  async with<T>(use: (ws: Workspace) => Promise<T>): Promise<T> {
    let ws = await this.acquire()
    // Counted in the same turn as it is checked: a workspace retired meanwhile may be going away.
    while (ws.retired) ws = await this.acquire()
    ws.users++
    try {
      return await use(ws)
    } finally {
      ws.users--
      if (ws.retired && ws.users === 0) await ws.remove()
    }
  }

  /** The next push starts a fresh workspace: this one may be damaged (a push in it failed). */
  broken(ws: Workspace): void {
    this.retire(ws)
  }

  private async acquire(): Promise<Workspace> {
    const now = (this.o.now ?? Date.now)()
    const pending = this.current
    const ws = pending ? await pending.catch(() => undefined) : undefined
    if (ws && !ws.retired && now - ws.createdAt < (this.o.maxAgeMs ?? MAX_AGE_MS)) return ws
    if (ws) this.retire(ws)
    // Whoever finds no usable workspace first makes the next one; the others wait for it.
    if (this.current === pending) this.current = Workspace.create(now)
    return this.current!
  }

  private retire(ws: Workspace): void {
    if (ws.retired) return
    ws.retired = true
    if (ws.users === 0) void ws.remove()
  }
}

/** One git directory (HEAD, objects/, refs/) in a private temporary directory, also git's HOME. */
export class Workspace {
  users = 0
  retired = false
  private readonly fanOut = new Map<string, Promise<unknown>>()
  private readonly shared = new Map<string, Promise<void>>()
  private readonly onExit = (): void => rmSync(this.home, {recursive: true, force: true})

  private constructor(
    readonly home: string,
    readonly createdAt: number,
  ) {
    // A daemon that stops leaves none behind (kill -9 does, as it would leave any temporary file).
    process.once('exit', this.onExit)
  }

  get gitDir(): string {
    return join(this.home, 'repo.git')
  }

  static async create(now: number): Promise<Workspace> {
    // mkdtemp: mode 0700, the job tokens in job.json are for this user only.
    const ws = new Workspace(await mkdtemp(join(tmpdir(), 'hpr-push-')), now)
    // A git directory needs HEAD, objects/ and refs/ (gitrepository-layout(5)); laid out here,
    // it spares a `git init` process and its template copy.
    await mkdir(join(ws.gitDir, 'refs', 'heads'), {recursive: true})
    await mkdir(join(ws.gitDir, 'objects'))
    await writeFile(join(ws.gitDir, 'HEAD'), 'ref: refs/heads/master\n')
    return ws
  }

  /** Puts an object every launch of a runner uses, once: written aside, then renamed into place. */
  putShared(o: LooseObject): Promise<void> {
    let done = this.shared.get(o.sha)
    if (!done) {
      done = this.dirFor(o).then(async () => {
        const tmp = `${this.path(o)}.${randomBytes(6).toString('hex')}.tmp`
        await writeFile(tmp, o.deflated)
        await rename(tmp, this.path(o))
      })
      // A failed write is tried again by the next launch.
      done.catch(() => this.shared.delete(o.sha))
      this.shared.set(o.sha, done)
    }
    return done
  }

  /** Puts an object of one launch: nobody else reads it before that launch pushes. */
  async putOwn(o: LooseObject): Promise<void> {
    await this.dirFor(o)
    await writeFile(this.path(o), o.deflated)
  }

  /** Removes an object of one launch (job.json holds the job's token: it stays no longer than its push). */
  async dropOwn(o: LooseObject): Promise<void> {
    await unlink(this.path(o)).catch(() => {})
  }

  async remove(): Promise<void> {
    process.off('exit', this.onExit)
    await rm(this.home, {recursive: true, force: true})
  }

  private path(o: LooseObject): string {
    return join(this.gitDir, 'objects', o.sha.slice(0, 2), o.sha.slice(2))
  }

  private dirFor(o: LooseObject): Promise<unknown> {
    const name = o.sha.slice(0, 2)
    let made = this.fanOut.get(name)
    if (!made) {
      made = mkdir(join(this.gitDir, 'objects', name), {recursive: true})
      made.catch(() => this.fanOut.delete(name))
      this.fanOut.set(name, made)
    }
    return made
  }
}

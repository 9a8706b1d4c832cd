import {rmSync} from 'node:fs'
import {mkdir, mkdtemp, rm, unlink, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {LooseObject} from './loose-objects.js'

/** How long one workspace serves before the next push starts a fresh one: far below any tmp cleaner's age. */
const MAX_AGE_MS = 3_600_000

/**
 * The git directory the pushes of this process work in, shared by every launch: a launch writes
 * its own objects (runner.toml and job.json, which hold the runner's and the job's tokens, its
 * tree and commit) next to the shared ones (the Dockerfile), pushes its commit by id, and removes
 * its own objects. Compared with a fresh directory per launch, it spares a launch a dozen
 * filesystem calls to lay one out and as many to remove it. A push only reads the directory, so
 * pushes share it safely: each object is written once, and every push needing it waits for that
 * write before it runs git.
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

/** Workspaces to remove when the process exits. */
const live = new Set<string>()

/**
 * A daemon that stops leaves no workspace behind (kill -9 does, as it would leave any temporary
 * file). One listener for them all: retired workspaces still in use can be many at once.
 */
function removeAtExit(home: string): void {
  if (!process.listeners('exit').includes(removeLive)) process.on('exit', removeLive)
  live.add(home)
}

function removeLive(): void {
  for (const home of live) rmSync(home, {recursive: true, force: true})
}

/** What a push staged: `unstage` lets go of its transient objects; false when one could not be removed. */
export interface Staged {
  unstage(): Promise<boolean>
}

/** A transient object and the pushes holding it. */
interface Held {
  object: LooseObject
  users: number
  written: Promise<void>
}

/** One git directory (HEAD, objects/, refs/) in a private temporary directory, also git's HOME. */
export class Workspace {
  users = 0
  retired = false
  private readonly fanOut = new Map<string, Promise<unknown>>()
  private readonly kept = new Map<string, Promise<void>>()
  private readonly transient = new Map<string, Held>()
  private readonly removing = new Map<string, Promise<boolean>>()

  private constructor(
    readonly home: string,
    readonly createdAt: number,
  ) {}

  get gitDir(): string {
    return join(this.home, 'repo.git')
  }

  static async create(now: number): Promise<Workspace> {
    // mkdtemp: mode 0700, the tokens in runner.toml and job.json are for this user only.
    const ws = new Workspace(await mkdtemp(join(tmpdir(), 'hpr-push-')), now)
    try {
      // A git directory needs HEAD, objects/ and refs/ (gitrepository-layout(5)); laid out here,
      // it spares a `git init` process and its template copy.
      await mkdir(join(ws.gitDir, 'refs', 'heads'), {recursive: true})
      await mkdir(join(ws.gitDir, 'objects'))
      await writeFile(join(ws.gitDir, 'HEAD'), 'ref: refs/heads/master\n')
    } catch (error) {
      await rm(ws.home, {recursive: true, force: true}).catch(() => {})
      throw error
    }
    removeAtExit(ws.home)
    return ws
  }

  /**
   * Writes a push's objects: `kept` once per workspace (they stay), `transient` for as long as a
   * push holds them. Pushes at the same moment can hold the same transient object (runner.toml is
   * the same for every job of a runner): it is written once and removed when the last lets go.
   * On failure, throws once every write has ended, having let go of what it held.
   */
  async stage(kept: readonly LooseObject[], transient: readonly LooseObject[]): Promise<Staged> {
    const held = transient.map((o) => this.hold(o))
    const writes = await Promise.allSettled([...kept.map((o) => this.putKept(o)), ...held.map((h) => h.written)])
    const staged = {unstage: () => this.letGo(held)}
    const failed = writes.find((w): w is PromiseRejectedResult => w.status === 'rejected')
    if (failed) {
      await staged.unstage()
      throw failed.reason
    }
    return staged
  }

  /** Removes the whole directory. Never throws: a directory left behind is no reason to fail a launch. */
  async remove(): Promise<void> {
    live.delete(this.home)
    await rm(this.home, {recursive: true, force: true}).catch(() => {})
  }

  /** Puts an object every launch of a runner uses, once per workspace. */
  private putKept(o: LooseObject): Promise<void> {
    let done = this.kept.get(o.sha)
    if (!done) {
      done = this.write(o)
      // A failed write is tried again by the next launch.
      done.catch(() => this.kept.delete(o.sha))
      this.kept.set(o.sha, done)
    }
    return done
  }

  /** Holds a transient object: counted at once (synchronously), written by its first holder. */
  private hold(o: LooseObject): Held {
    const current = this.transient.get(o.sha)
    if (current) {
      current.users++
      return current
    }
    // After a removal of the same object still in progress, never under it.
    const after = this.removing.get(o.sha)
    const h: Held = {
      object: o,
      users: 1,
      written: (async () => {
        await after
        await this.write(o)
      })(),
    }
    this.transient.set(o.sha, h)
    void h.written.catch(() => {
      // Whoever holds it next writes it afresh; what a failed write left is removed first.
      if (this.transient.get(o.sha) === h) this.transient.delete(o.sha)
      void this.removeFile(o)
    })
    return h
  }

  /** Lets go of held objects; false when one that had to go is still there. */
  private async letGo(held: readonly Held[]): Promise<boolean> {
    const removals = held.map((h) => {
      if (--h.users > 0 || this.transient.get(h.object.sha) !== h) return Promise.resolve(true)
      this.transient.delete(h.object.sha)
      return this.removeFile(h.object)
    })
    return (await Promise.all(removals)).every(Boolean)
  }

  /** Unlinks an object's file; true when it is gone (or never was). */
  private removeFile(o: LooseObject): Promise<boolean> {
    const gone = unlink(this.path(o)).then(
      () => true,
      // Not there, or its directory is not (ENOTDIR: a file has the directory's name).
      (error: NodeJS.ErrnoException) => error.code === 'ENOENT' || error.code === 'ENOTDIR',
    )
    this.removing.set(o.sha, gone)
    void gone.then(() => {
      if (this.removing.get(o.sha) === gone) this.removing.delete(o.sha)
    })
    return gone
  }

  private async write(o: LooseObject): Promise<void> {
    await this.dirFor(o)
    await writeFile(this.path(o), o.deflated)
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

import {mkdir, readFile, writeFile} from 'node:fs/promises'
import type {IncomingMessage, ServerResponse} from 'node:http'
import {join} from 'node:path'
import {inflateSync} from 'node:zlib'

import type {Counters} from '../common/faults.js'
import {gitHttpBackend, run} from '../common/git-http-backend.js'
import {gitMember, type SimMember} from './clever-auth.js'
import type {SimApp} from './clever-model.js'

/** What the git server needs of the Clever simulator. */
export interface GitHost {
  /** Directory holding one bare repository per app. */
  readonly root: string
  readonly apps: Map<string, SimApp>
  readonly members: readonly SimMember[]
  readonly counters: Counters
  /** Fault switch: true when this push must be refused (consumes one). */
  takeRefusedPush(): boolean
  /** A push moved master to `sha`; `files` are the build context's Dockerfile, runner.toml and job.json. */
  pushed(app: SimApp, sha: string, files: Record<string, string>): void
}

const PRE_RECEIVE =
  '#!/bin/sh\nwhile read old new ref; do\n  if [ "$ref" != "refs/heads/master" ]; then\n    echo "You tried to push to a custom branch."\n    echo "This is not allowed."\n    exit 1\n  fi\ndone\n'
const BUILD_CONTEXT = ['Dockerfile', 'runner.toml', 'job.json']

/**
 * Clever's git deployment over HTTP (clever-api.md §5), with a real `git http-backend`: one
 * repository per app, absent until `repoState` is CREATED, Clever's credentials only, and a
 * pre-receive hook that takes `master` only, with Clever's wording. A push is registered (the
 * deployment starts) before its answer reaches the client.
 *
 * The simulator runs on the same cores as what it measures (src/bench/launch-cost.ts), so it
 * runs no git process of its own around git's: it lays out each bare repository itself
 * (gitrepository-layout(5)), reads refs from their files and the pushed files from the loose
 * objects receive-pack wrote. The git protocol is still served by `git http-backend`.
 */
export class CleverGitServer {
  constructor(private readonly host: GitHost) {}

  /** A bare repository as `git init --bare` makes it, with the hook, without `git gc --auto` after each push. */
  async initRepo(appId: string): Promise<void> {
    const dir = join(this.host.root, `${appId}.git`)
    for (const d of ['objects/info', 'objects/pack', 'refs/heads', 'refs/tags', 'hooks'])
      await mkdir(join(dir, d), {recursive: true})
    await writeFile(join(dir, 'HEAD'), 'ref: refs/heads/master\n')
    await writeFile(
      join(dir, 'config'),
      '[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n[receive]\n\tautogc = false\n',
    )
    await writeFile(join(dir, 'hooks', 'pre-receive'), PRE_RECEIVE, {mode: 0o755})
  }

  /** Serves `/git/<appId>.git/…`. */
  async serve(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const {apps, counters} = this.host
    const m = /^\/git\/(app_[^/]+)\.git(\/.*)$/.exec(url.pathname)
    const app = m ? apps.get(m[1]!) : undefined
    const isPush = url.pathname.endsWith('/git-receive-pack') || url.searchParams.get('service') === 'git-receive-pack'
    const endpoint =
      req.method === 'POST' && url.pathname.endsWith('/git-receive-pack')
        ? 'GIT push'
        : isPush
          ? 'GIT push-refs'
          : 'GIT fetch'
    // No repository exists before `repoState` is CREATED: a push (or fetch) then finds nothing.
    if (!m || !app || app.repoState !== 'CREATED') {
      counters.inc(endpoint, 404)
      res.writeHead(404).end('Repository not found\n')
      return
    }
    const member = gitMember(req.headers.authorization, this.host.members)
    if (!member) {
      counters.inc(endpoint, 401)
      res.writeHead(401, {'www-authenticate': 'Basic realm="Clever Cloud git"'}).end()
      return
    }
    if (!member.orgs.has(app.ownerId)) {
      counters.inc(endpoint, 403)
      res.writeHead(403).end('You do not have access to this repository\n')
      return
    }
    if (endpoint === 'GIT push' && this.host.takeRefusedPush()) {
      counters.inc(endpoint, 403)
      res.writeHead(403).end('push refused (simulated)\n')
      return
    }
    const repo = join(this.host.root, `${app.id}.git`)
    const before = endpoint === 'GIT push' ? await master(repo) : ''
    await gitHttpBackend(req, res, this.host.root, `/${app.id}.git${m[2]}`, member.userId, async () => {
      if (endpoint !== 'GIT push' || !apps.has(app.id)) return
      const after = await master(repo)
      if (after && after !== before) this.host.pushed(app, after, await readFiles(repo, after))
    })
    counters.inc(endpoint, res.statusCode)
  }
}

/** `master` of a bare repository, from its ref files (receive-pack writes loose refs). */
async function master(repo: string): Promise<string> {
  const loose = await readFile(join(repo, 'refs', 'heads', 'master'), 'utf8').catch(() => '')
  if (loose.trim()) return loose.trim()
  const packed = await readFile(join(repo, 'packed-refs'), 'utf8').catch(() => '')
  return /^([0-9a-f]{40}) refs\/heads\/master$/m.exec(packed)?.[1] ?? ''
}

/**
 * The build context's files at `commit`; a missing one reads as ''. From the loose objects
 * (receive-pack unpacks a push of a few objects); through `git cat-file` if any is packed.
 */
async function readFiles(repo: string, commit: string): Promise<Record<string, string>> {
  try {
    const treeId = /^tree ([0-9a-f]{40})$/m.exec((await looseObject(repo, commit, 'commit')).toString('utf8'))?.[1]
    if (!treeId) throw new Error('no tree')
    const tree = await looseObject(repo, treeId, 'tree')
    const files: Record<string, string> = Object.fromEntries(BUILD_CONTEXT.map((f) => [f, '']))
    for (let at = 0; at < tree.length;) {
      const nul = tree.indexOf(0, at)
      const name = tree.subarray(tree.indexOf(0x20, at) + 1, nul).toString('utf8')
      const id = tree.subarray(nul + 1, nul + 21).toString('hex')
      at = nul + 21
      if (name in files) files[name] = (await looseObject(repo, id, 'blob')).toString('utf8')
    }
    return files
  } catch {
    return catFiles(repo, commit)
  }
}

/** A loose object's content (`objects/xx/yyyy…`: zlib of `<type> <size>\0<content>`). */
async function looseObject(repo: string, id: string, type: string): Promise<Buffer> {
  const raw = inflateSync(await readFile(join(repo, 'objects', id.slice(0, 2), id.slice(2))))
  const nul = raw.indexOf(0)
  if (!raw.subarray(0, nul).toString('latin1').startsWith(`${type} `)) throw new Error(`${id} is not a ${type}`)
  return raw.subarray(nul + 1)
}

async function catFiles(repo: string, commit: string): Promise<Record<string, string>> {
  const r = await run('git', ['--git-dir', repo, 'cat-file', '--batch'], {
    input: BUILD_CONTEXT.map((f) => `${commit}:${f}\n`).join(''),
  })
  const out = Buffer.from(r.stdout, 'utf8')
  const files: Record<string, string> = {}
  let at = 0
  for (const name of BUILD_CONTEXT) {
    const eol = out.indexOf('\n', at)
    const header = out.subarray(at, eol).toString('utf8')
    at = eol + 1
    const size = /^[0-9a-f]{40} blob (\d+)$/.exec(header)?.[1]
    if (size === undefined) {
      files[name] = ''
      continue
    }
    files[name] = out.subarray(at, at + Number(size)).toString('utf8')
    at += Number(size) + 1
  }
  return files
}

import {chmod, writeFile} from 'node:fs/promises'
import type {IncomingMessage, ServerResponse} from 'node:http'
import {join} from 'node:path'

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

/**
 * Clever's git deployment over HTTP (clever-api.md §5), with a real `git http-backend`: one
 * repository per app, absent until `repoState` is CREATED, Clever's credentials only, and a
 * pre-receive hook that takes `master` only, with Clever's wording.
 */
export class CleverGitServer {
  constructor(private readonly host: GitHost) {}

  async initRepo(appId: string): Promise<void> {
    const dir = join(this.host.root, `${appId}.git`)
    await run('git', ['init', '-q', '--bare', '--initial-branch=master', dir])
    const hook = join(dir, 'hooks', 'pre-receive')
    await writeFile(
      hook,
      '#!/bin/sh\nwhile read old new ref; do\n  if [ "$ref" != "refs/heads/master" ]; then\n    echo "You tried to push to a custom branch."\n    echo "This is not allowed."\n    exit 1\n  fi\ndone\n',
    )
    await chmod(hook, 0o755)
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
    await gitHttpBackend(req, res, this.host.root, `/${app.id}.git${m[2]}`, member.userId)
    counters.inc(endpoint, res.statusCode)
    if (endpoint !== 'GIT push' || !apps.has(app.id)) return
    const after = await master(repo)
    if (after && after !== before) {
      const files: Record<string, string> = {}
      for (const f of ['Dockerfile', 'runner.toml', 'job.json'])
        files[f] = (await run('git', ['--git-dir', repo, 'show', `master:${f}`])).stdout
      this.host.pushed(app, after, files)
    }
  }
}

async function master(repo: string): Promise<string> {
  const r = await run('git', ['--git-dir', repo, 'rev-parse', '--verify', '-q', 'refs/heads/master'])
  return r.code === 0 ? r.stdout.trim() : ''
}

import {PaasRunnerError, type BuildContextFiles} from '@heptapod-paas-runner/plugin-api'

import {assertNotGitOption} from './deploy-url.js'
import {BlobCache, commitObject, looseObject, treeObject, type LooseObject} from './loose-objects.js'
import {PushWorkspace, type Staged, type Workspace} from './push-workspace.js'

const AUTHOR = 'Heptapod Paas Runner <paasrunner@heptapod.test>'

/** Where and as whom to push; `basicAuth` is the base64 of `user:password` (a secret). */
export interface PushTarget {
  url: string
  basicAuth: string
  signal?: AbortSignal
  /** Seconds after which a push that has not ended is given up (default PUSH_TIMEOUT_S). */
  timeoutS?: number
}

/**
 * A push that has not ended after this long is given up, and its launch fails: its server is gone
 * or hung, and the push would hold the job's provisioning slot until the job is canceled. Pushing
 * three small files takes seconds. A whole-push bound rather than curl's low-speed check alone
 * (http.lowSpeedLimit): its smallest limit, 1 byte a second, is what receive-pack's keep-alives
 * send while a server-side hook runs (5 bytes every 5 s), so it is no sure sign of a hung server.
 */
export const PUSH_TIMEOUT_S = 300

/**
 * The environment of every git process: no user or system configuration (HOME is a fresh empty
 * directory, GIT_CONFIG_NOSYSTEM), no credential helper, no prompt.
 */
function isolatedEnv(home: string): Record<string, string> {
  return {PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1'}
}

/**
 * What `git push --porcelain` says of `refs/heads/master`: `pushed` (a new branch), `exists`
 * (the branch was there already: this push did not move it), or undefined when it does not say.
 */
export function pushOutcome(text: string): 'pushed' | 'exists' | undefined {
  for (const line of text.split('\n')) {
    const m = /^([ +*!=-])\t[^\t]*:refs\/heads\/master\t(.*)$/.exec(line)
    if (!m) continue
    if (m[1] === '*') return 'pushed'
    if (m[1] === '=') return 'exists'
    // Without force, git refuses to replace a branch that our fresh root commit does not descend from.
    if (m[1] === '!' && /^\[rejected\] \((fetch first|non-fast-forward|already exists)\)/.test(m[2]!)) return 'exists'
    return undefined
  }
  return undefined
}

/** The per-runner files, hashed and deflated once (they are the same for every job of a runner). */
const sharedBlobs = new BlobCache()

/**
 * The files that stay in the push workspace from one push to the next. Only the Dockerfile:
 * runner.toml holds the runner's token, and job.json the job's, so they are on disk only for
 * their push.
 */
const KEPT_ON_DISK: ReadonlySet<string> = new Set(['Dockerfile'])

/** Where this process's pushes are made. */
const workspace = new PushWorkspace()

/**
 * The loose objects of one root commit holding `files`: `shared`, the Dockerfile's (kept in the
 * push workspace), and `own`, the others (runner.toml, job.json, the tree and the commit), on
 * disk only for the push. The Dockerfile's and runner.toml's blobs come from the cache; job.json's,
 * the job's own, is never cached.
 */
export function contextObjects(
  files: BuildContextFiles,
  whenS: number,
): {commit: string; objects: LooseObject[]; shared: LooseObject[]; own: LooseObject[]} {
  const blobs = (Object.keys(files) as Array<keyof BuildContextFiles>).map((name) => ({
    name,
    blob: name === 'job.json' ? looseObject('blob', Buffer.from(files[name])) : sharedBlobs.get(files[name]),
  }))
  const tree = treeObject(blobs.map((b) => ({name: b.name, sha: b.blob.sha})))
  const commit = commitObject(tree.sha, AUTHOR, whenS, 'Job definition')
  const shared = blobs.filter((b) => KEPT_ON_DISK.has(b.name)).map((b) => b.blob)
  const own = [...blobs.filter((b) => !KEPT_ON_DISK.has(b.name)).map((b) => b.blob), tree, commit]
  return {commit: commit.sha, objects: [...shared, ...own], shared, own}
}

/**
 * Pushes `files` as one root commit to `master` of the deployment repository, with one git
 * process (`git push`, through simple-git): the commit's objects are written here, as loose
 * objects in this process's push workspace, and the commit is pushed by its id. Credentials go
 * in an HTTP header set through git's environment (`GIT_CONFIG_*`): never in the URL, a file, or
 * the command line (which `ps` shows).
 * Returns false when `master` exists already (launched before, e.g. before a crash): a push
 * without force never replaces it, so the check and the push are one atomic step on the server's side.
 */
export async function pushBuildContext(files: BuildContextFiles, target: PushTarget): Promise<boolean> {
  const url = assertNotGitOption(target.url)
  const {commit, shared, own} = contextObjects(files, Math.floor(Date.now() / 1000))
  return workspace.with(async (ws) => {
    let staged: Staged
    try {
      staged = await ws.stage(shared, own)
    } catch (error) {
      workspace.broken(ws)
      throw error
    }
    let done = false
    try {
      const text = await gitPush(ws, commit, url, target)
      const outcome = pushOutcome(text)
      if (outcome === undefined)
        throw new PaasRunnerError('git_push', `git push to the deployment repository failed: ${lastLines(text)}`, {
          retryable: false,
        })
      done = true
      return outcome === 'pushed'
    } finally {
      // Whatever failed, or if a token could not be removed, the next push starts from a fresh
      // workspace, and this one is removed once its pushes end.
      if (!(await staged.unstage()) || !done) workspace.broken(ws)
    }
  })
}

/** `git push --porcelain` of `commit` through simple-git; its output (or its error's, which holds stdout too). */
async function gitPush(ws: Workspace, commit: string, url: string, target: PushTarget): Promise<string> {
  const {simpleGit} = await import('simple-git')
  const timeoutS = target.timeoutS ?? PUSH_TIMEOUT_S
  const timeout = AbortSignal.timeout(timeoutS * 1000)
  const config: Array<[key: string, value: string]> = [
    ['http.extraHeader', `Authorization: Basic ${target.basicAuth}`],
    // git sends extraHeader to wherever a redirect leads: a redirect is never followed, so the
    // organisation's credentials go to the deployment URL's host only.
    ['http.followRedirects', 'false'],
    // Five objects: pack-objects needs no thread pool for them.
    ['pack.threads', '1'],
    // Ending the push ends `git` only: its remote helpers (`git remote-http`, `git-remote-http`)
    // outlive it, holding their connection. Curl's low-speed check ends them on a server that sends
    // nothing for as long as a push may last (the push itself was given up by then).
    ['http.lowSpeedLimit', '1'],
    ['http.lowSpeedTime', String(timeoutS)],
  ]
  const env = {
    ...isolatedEnv(ws.home),
    GIT_DIR: ws.gitDir,
    // Configuration through the environment (git >= 2.31), not `-c`: it stays out of the command line.
    GIT_CONFIG_COUNT: String(config.length),
    ...Object.fromEntries(
      config.flatMap(([key, value], i) => [
        [`GIT_CONFIG_KEY_${i}`, key],
        [`GIT_CONFIG_VALUE_${i}`, value],
      ]),
    ),
  }
  const git = simpleGit({
    baseDir: ws.home,
    allowEnvironment: Object.keys(env).filter((k) => k.startsWith('GIT_')),
    // simple-git guards GIT_CONFIG_COUNT because a caller's environment could set any key with
    // it; here the keys are ours and fixed, only the header's value varies (base64: no newline).
    unsafe: {allowUnsafeConfigEnvCount: true},
    // Either ends the git process: the job's cancellation or shutdown, or the push's time running out.
    abort: target.signal ? AbortSignal.any([target.signal, timeout]) : timeout,
  }).env(env)
  try {
    // `--end-of-options`: whatever the URL is, git never reads it as an option.
    return await git.raw(['push', '--porcelain', '--end-of-options', url, `${commit}:refs/heads/master`])
  } catch (error) {
    if (target.signal?.aborted) throw error
    if (timeout.aborted)
      throw new PaasRunnerError(
        'git_push_timeout',
        `git push to the deployment repository did not end within ${timeoutS} s: given up`,
        {retryable: false},
      )
    return String((error as Error).message ?? error)
  }
}

function lastLines(text: string): string {
  return text
    .split('\n')
    .filter((l) => l.trim() && !/^\s*at /.test(l))
    .slice(-3)
    .join(' / ')
}

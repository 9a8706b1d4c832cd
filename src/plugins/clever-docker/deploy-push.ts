import {type PaasRunnerError, type BuildContextFiles, type HttpClient} from '@heptapod-paas-runner/plugin-api'

import {assertNotGitOption} from './deploy-url.js'
import {rootCommitPack} from './git-pack.js'
import {advertisement, createMaster, pushError, type ReceivePackTarget} from './git-receive-pack.js'

/** Where and as whom to push; `basicAuth` is the base64 of `user:password` (a secret). */
export interface PushTarget {
  url: string
  basicAuth: string
  http: HttpClient
  signal?: AbortSignal
  /** Checks where a redirect of the first request leads (see ReceivePackTarget). */
  checkRedirect?(url: string): string
}

/**
 * Pushes `files` as one root commit to `master` of the deployment repository, in this process
 * (git-pack.ts, git-receive-pack.ts): two HTTP requests, no git process. Returns false when
 * `master` exists already (launched before, e.g. before a crash): it is never replaced. The
 * update asks the server to create `master` (old id zero), so even a `master` that appears
 * between the two requests is refused on the server's side, never overwritten.
 */
export async function pushBuildContext(
  files: BuildContextFiles,
  target: PushTarget,
  now: () => number = Date.now,
): Promise<boolean> {
  const first: ReceivePackTarget = {...target, url: assertNotGitOption(target.url)}
  const before = await advertisement(first)
  if (before.master !== undefined) return false
  // As git does, the requests after a redirected first one go where it led.
  const t: ReceivePackTarget = {...first, url: before.url}
  const {commit, pack} = rootCommitPack(files, 'Job definition', Math.floor(now() / 1000))
  const report = await createMaster(t, commit, pack, before.capabilities)
  if (report.unpack !== 'ok')
    throw failure(`the server could not unpack the objects (${report.unpack || 'no unpack status'})`, report.remote)
  if (report.ref?.ok) return true
  // Refused: a `master` made meanwhile is "launched before"; anything else is a failure.
  const after = (await advertisement(t)).master
  if (after === commit) return true
  if (after !== undefined) return false
  throw failure(
    report.ref ? `master refused: ${report.ref.reason}` : 'the server did not report on master',
    report.remote,
  )
}

function failure(why: string, remote: string[]): PaasRunnerError {
  const said = remote.length > 0 ? ` (remote: ${remote.slice(-3).join(' / ')})` : ''
  return pushError(`${why}${said}`)
}

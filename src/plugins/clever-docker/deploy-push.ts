import {spawn} from 'node:child_process'
import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {PaasRunnerError, type BuildContextFiles} from '@heptapod-paas-runner/plugin-api'

import {assertNotGitOption} from './deploy-url.js'

const AUTHOR = 'Heptapod Paas Runner <paasrunner@heptapod.test>'

/** Where and as whom to push; `basicAuth` is the base64 of `user:password` (a secret). */
export interface PushTarget {
  url: string
  basicAuth: string
  signal?: AbortSignal
}

/**
 * The environment of every git process: no user or system configuration (HOME is a fresh empty
 * directory, GIT_CONFIG_NOSYSTEM), no credential helper, no prompt.
 */
function isolatedEnv(home: string): Record<string, string> {
  return {PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1'}
}

/**
 * The `git fast-import` stream of one root commit holding `files` on `refs/heads/master`. The
 * stream ends with `done`: a truncated stream (killed writer) imports nothing.
 */
export function fastImportStream(files: BuildContextFiles, message: string, whenS: number): Buffer {
  const parts: string[] = []
  const data = (text: string): string => `data ${Buffer.byteLength(text)}\n${text}\n`
  const names = Object.keys(files) as Array<keyof BuildContextFiles>
  names.forEach((name, i) => parts.push(`blob\nmark :${i + 1}\n${data(files[name])}`))
  parts.push(
    `commit refs/heads/master\nauthor ${AUTHOR} ${whenS} +0000\ncommitter ${AUTHOR} ${whenS} +0000\n${data(message)}`,
  )
  names.forEach((name, i) => parts.push(`M 100644 :${i + 1} ${name}\n`))
  parts.push('\ndone\n')
  return Buffer.from(parts.join(''))
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

/**
 * Pushes `files` as one root commit to `master` of the deployment repository, with two git
 * processes: `git fast-import` (blobs, tree and commit in one process, no work tree) and
 * `git push`. Credentials go in an HTTP header, never in the URL or in a file. Returns false when
 * `master` exists already (launched before, e.g. before a crash): a push without force never
 * replaces it, so the check and the push are one atomic step on the server's side.
 */
export async function pushBuildContext(files: BuildContextFiles, target: PushTarget): Promise<boolean> {
  const url = assertNotGitOption(target.url)
  const home = await mkdtemp(join(tmpdir(), 'hpr-push-'))
  try {
    const env = isolatedEnv(home)
    // A git directory needs HEAD, objects/ and refs/ (gitrepository-layout(5)); laid out here,
    // it spares a `git init` process and its template copy per launch.
    const gitDir = join(home, 'repo.git')
    await mkdir(join(gitDir, 'objects'), {recursive: true})
    await mkdir(join(gitDir, 'refs', 'heads'), {recursive: true})
    await writeFile(join(gitDir, 'HEAD'), 'ref: refs/heads/master\n')
    await fastImport(
      gitDir,
      env,
      fastImportStream(files, 'Job definition', Math.floor(Date.now() / 1000)),
      target.signal,
    )
    const text = await gitPush(gitDir, env, url, target)
    const outcome = pushOutcome(text)
    if (outcome === undefined)
      throw new PaasRunnerError('git_push', `git push to the deployment repository failed: ${lastLines(text)}`, {
        retryable: false,
      })
    return outcome === 'pushed'
  } finally {
    await rm(home, {recursive: true, force: true})
  }
}

function fastImport(gitDir: string, env: Record<string, string>, stream: Buffer, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    // unpackLimit 0: keep the pack as written (the default would run `git unpack-objects` for so few objects).
    const child = spawn('git', ['-c', 'fastimport.unpackLimit=0', 'fast-import', '--quiet', '--done'], {
      cwd: gitDir,
      env: {...env, GIT_DIR: gitDir},
      stdio: ['pipe', 'ignore', 'pipe'],
      ...(signal ? {signal} : {}),
    })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.stdin.on('error', () => {}) // a failing fast-import may exit before reading it all; its exit code says why
    child.on('error', (error) =>
      reject(
        new PaasRunnerError('git_push', `git fast-import could not run: ${error.message}`, {
          retryable: false,
          cause: error,
        }),
      ),
    )
    child.on('close', (code) => {
      if (code === 0) resolve()
      else
        reject(
          new PaasRunnerError('git_push', `git fast-import failed (exit ${code}): ${lastLines(stderr)}`, {
            retryable: false,
          }),
        )
    })
    child.stdin.end(stream)
  })
}

/** `git push --porcelain` through simple-git; its output (or its error's, which holds stdout too). */
async function gitPush(gitDir: string, env: Record<string, string>, url: string, target: PushTarget): Promise<string> {
  const {simpleGit} = await import('simple-git')
  const git = simpleGit({
    baseDir: gitDir,
    allowEnvironment: ['GIT_TERMINAL_PROMPT', 'GIT_CONFIG_NOSYSTEM'],
    config: [`http.extraHeader=Authorization: Basic ${target.basicAuth}`],
    ...(target.signal ? {abort: target.signal} : {}),
  }).env(env)
  try {
    // `--end-of-options`: whatever the URL is, git never reads it as an option.
    return await git.raw(['push', '--porcelain', '--end-of-options', url, 'refs/heads/master:refs/heads/master'])
  } catch (error) {
    if (target.signal?.aborted) throw error
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

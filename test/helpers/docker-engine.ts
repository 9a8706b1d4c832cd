import {execFileSync, spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {request} from 'node:http'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'

import ts from 'typescript'

import {REPO} from './cli.js'

export interface Engine {
  socket: string
  /** `Version` of GET /version, e.g. 20.10.24+dfsg1. */
  version: string
  apiVersion: string
}

interface Answer {
  status: number
  body: string
}

/** One unversioned call to the engine (tests only: checks and fixtures, never the code under test). */
export function engineCall(
  socket: string,
  method: string,
  path: string,
  body?: string | Buffer,
  timeoutMs = 5000,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {socketPath: socket, method, path, timeout: timeoutMs, headers: {'content-type': 'application/json'}},
      (res) => {
        let text = ''
        res.on('data', (c: Buffer) => (text += c.toString()))
        res.on('end', () => resolve({status: res.statusCode ?? 0, body: text}))
      },
    )
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in ${timeoutMs} ms`)))
    req.on('error', reject)
    req.end(body)
  })
}

/** The engine on DOCKER_HOST or /var/run/docker.sock, when one answers; undefined otherwise. */
export async function probeEngine(): Promise<Engine | undefined> {
  const socket = (process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock').replace(/^unix:\/\//, '')
  if (!existsSync(socket)) return undefined
  try {
    const ping = await engineCall(socket, 'GET', '/_ping', undefined, 3000)
    if (ping.status !== 200) return undefined
    const v = JSON.parse((await engineCall(socket, 'GET', '/version', undefined, 3000)).body) as {
      Version?: string
      ApiVersion?: string
    }
    return {socket, version: v.Version ?? '?', apiVersion: v.ApiVersion ?? '?'}
  } catch {
    return undefined
  }
}

/** Label of the test base image, so it can be told apart (it is kept between runs, never ours to sweep). */
export const BASE_LABEL = 'org.heptapod.paas-runner.test-base'

const TS_SOURCES = ['src/sim/common/inner-runner.ts', 'src/sim/docker/inner-runner-main.ts']
const ENTRY =
  '#!/usr/bin/node\n// gitlab-runner exec-fetched-job … <job.json>: the simulated inner runner.\nimport("/opt/hpr/sim/docker/inner-runner-main.js")\n'

/**
 * A base image holding `node` (this one, with its libraries) and the simulated inner runner as
 * `/usr/bin/gitlab-runner`, made with `docker import` of a root filesystem built here (no
 * registry needed). Tagged by a hash of what it holds, so it is built once and reused by later runs.
 */
export async function ensureBaseImage(socket: string): Promise<string> {
  const hash = createHash('sha256').update(process.version).update(process.execPath).update(ENTRY)
  for (const f of TS_SOURCES) hash.update(readFileSync(join(REPO, f)))
  const tag = `hpr-test-base:${hash.digest('hex').slice(0, 16)}`
  if ((await engineCall(socket, 'GET', `/images/${encodeURIComponent(tag)}/json`)).status === 200) return tag
  const root = mkdtempSync(join(tmpdir(), 'hpr-rootfs-'))
  try {
    const put = (path: string, from: string): void => {
      mkdirSync(join(root, dirname(path)), {recursive: true})
      copyFileSync(from, join(root, path))
    }
    put('/usr/bin/node', process.execPath)
    chmodSync(join(root, 'usr/bin/node'), 0o755)
    // The dynamic loader and the libraries node links to (copied, symlinks resolved).
    for (const line of execFileSync('ldd', [process.execPath], {encoding: 'utf8'}).split('\n')) {
      const m = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line)
      if (m) put(m[1]!, m[1]!)
    }
    for (const f of TS_SOURCES) {
      const js = ts.transpileModule(readFileSync(join(REPO, f), 'utf8'), {
        compilerOptions: {module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022},
      }).outputText
      const out = join(root, 'opt/hpr', f.replace(/^src\//, '').replace(/\.ts$/, '.js'))
      mkdirSync(dirname(out), {recursive: true})
      writeFileSync(out, js)
    }
    writeFileSync(join(root, 'opt/hpr/package.json'), '{"type": "module"}\n')
    writeFileSync(join(root, 'usr/bin/gitlab-runner'), ENTRY, {mode: 0o755})
    mkdirSync(join(root, 'tmp'), {mode: 0o1777})
    await importRootfs(socket, root, tag)
  } finally {
    rmSync(root, {recursive: true, force: true})
  }
  return tag
}

/** `docker import`: POST /images/create?fromSrc=- with the root filesystem as a tar stream. */
function importRootfs(socket: string, root: string, tag: string): Promise<void> {
  const [repo, version] = tag.split(':')
  const q = new URLSearchParams({fromSrc: '-', repo: repo!, tag: version!, changes: `LABEL ${BASE_LABEL}=1`})
  return new Promise((resolve, reject) => {
    const tar = spawn('tar', ['-C', root, '-cf', '-', '.'], {stdio: ['ignore', 'pipe', 'inherit']})
    const req = request(
      {socketPath: socket, method: 'POST', path: `/images/create?${q}`, headers: {'content-type': 'application/x-tar'}},
      (res) => {
        let text = ''
        res.on('data', (c: Buffer) => (text += c.toString()))
        res.on('end', () =>
          res.statusCode === 200 && !text.includes('"error"')
            ? resolve()
            : reject(new Error(`docker import of ${tag} failed: HTTP ${res.statusCode} ${text}`)),
        )
      },
    )
    req.on('error', reject)
    tar.on('error', reject)
    tar.stdout.pipe(req)
  })
}

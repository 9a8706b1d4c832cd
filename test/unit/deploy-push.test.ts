import {execFileSync} from 'node:child_process'
import {chmodSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {HttpClient} from '@heptapod-paas-runner/plugin-api'
import {UndiciHttpClient} from '../../src/adapters/http/undici-http-client.js'
import {pushBuildContext} from '../../src/plugins/clever-docker/deploy-push.js'
import {rootCommitPack} from '../../src/plugins/clever-docker/git-pack.js'
import {FLUSH, parseAdvertisement, parseReport, pktLine} from '../../src/plugins/clever-docker/git-receive-pack.js'
import {gitHttpBackend} from '../../src/sim/common/git-http-backend.js'

const FILES = {Dockerfile: 'FROM x\n', 'runner.toml': 'name = "é"\n', 'job.json': '{"id":1,"s":"data 3\\n"}'}
const AUTH = Buffer.from('Jenkins:secret').toString('base64')

let root: string
let server: Server
let base: string
const http = new UndiciHttpClient()
const env = (): NodeJS.ProcessEnv => ({PATH: process.env.PATH, HOME: root, GIT_CONFIG_NOSYSTEM: '1'})
const git = (repo: string, ...args: string[]): string =>
  execFileSync('git', ['--git-dir', join(root, repo), ...args], {env: env()}).toString()

function bareRepo(name: string, hook?: string): string {
  execFileSync('git', ['init', '-q', '--bare', '--initial-branch=master', join(root, name)], {env: env()})
  if (hook) {
    writeFileSync(join(root, name, 'hooks', 'pre-receive'), hook)
    chmodSync(join(root, name, 'hooks', 'pre-receive'), 0o755)
  }
  return `${base}/${name}`
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'hpr-push-'))
  // The real `git http-backend`, behind Basic auth as Clever's git hosts are.
  server = createServer((req, res) => {
    // `/moved/<repo>…` answers a redirect to `/<repo>…`; `/elsewhere/…` to a page that is no repository.
    const moved = /^\/moved(\/.*)$/.exec(req.url!)
    if (moved) return void res.writeHead(302, {location: moved[1]}).end()
    if (req.url!.startsWith('/elsewhere/')) return void res.writeHead(302, {location: '/login'}).end()
    if (req.headers.authorization !== `Basic ${AUTH}`)
      return void res.writeHead(401, {'www-authenticate': 'Basic realm="git"'}).end()
    void gitHttpBackend(req, res, root, new URL(req.url!, 'http://x').pathname, 'Jenkins')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(async () => {
  await http.close()
  await new Promise((resolve) => server.close(resolve))
  rmSync(root, {recursive: true, force: true})
})

describe('git objects and pack built in-process', () => {
  it('make the very commit git makes of the same files, author and date, and a pack git accepts whole', () => {
    const {commit, pack} = rootCommitPack(FILES, 'Job definition', 1_700_000_000)
    bareRepo('pack.git')
    execFileSync('git', ['--git-dir', join(root, 'pack.git'), 'index-pack', '--stdin', '--strict'], {
      env: env(),
      input: pack,
    })
    git('pack.git', 'update-ref', 'refs/heads/master', commit)
    git('pack.git', 'fsck', '--strict', '--no-dangling')
    expect(git('pack.git', 'ls-tree', '--name-only', 'master').split('\n').filter(Boolean)).toEqual([
      'Dockerfile',
      'job.json',
      'runner.toml',
    ])
    for (const [name, text] of Object.entries(FILES)) expect(git('pack.git', 'show', `master:${name}`)).toBe(text)
    // The same commit from git's own plumbing: same tree, same author line, same message.
    const tree = git('pack.git', 'rev-parse', 'master^{tree}').trim()
    const who = {
      GIT_AUTHOR_NAME: 'Heptapod Paas Runner',
      GIT_AUTHOR_EMAIL: 'paasrunner@heptapod.test',
      GIT_AUTHOR_DATE: '1700000000 +0000',
    }
    const theirs = execFileSync(
      'git',
      ['--git-dir', join(root, 'pack.git'), 'commit-tree', tree, '-m', 'Job definition'],
      {
        env: {
          ...env(),
          ...who,
          GIT_COMMITTER_NAME: who.GIT_AUTHOR_NAME,
          GIT_COMMITTER_EMAIL: who.GIT_AUTHOR_EMAIL,
          GIT_COMMITTER_DATE: who.GIT_AUTHOR_DATE,
        },
      },
    )
      .toString()
      .trim()
    expect(commit).toBe(theirs)
  })

  it('a file larger than one size byte holds (multi-byte pack entry sizes)', () => {
    const big = {Dockerfile: 'x'.repeat(70_000), 'job.json': '{}', 'runner.toml': ''}
    const {commit, pack} = rootCommitPack(big, 'm', 1)
    bareRepo('big.git')
    execFileSync('git', ['--git-dir', join(root, 'big.git'), 'index-pack', '--stdin', '--strict'], {
      env: env(),
      input: pack,
    })
    git('big.git', 'update-ref', 'refs/heads/master', commit)
    expect(git('big.git', 'show', 'master:Dockerfile')).toBe(big.Dockerfile)
  })
})

describe('push over smart HTTP, against the real git http-backend', () => {
  it('creates master with the three files; a second push finds it and leaves it alone', async () => {
    const url = bareRepo('app1.git')
    expect(await pushBuildContext(FILES, {url, basicAuth: AUTH, http})).toBe(true)
    const first = git('app1.git', 'rev-parse', 'master').trim()
    for (const [name, text] of Object.entries(FILES)) expect(git('app1.git', 'show', `master:${name}`)).toBe(text)
    git('app1.git', 'fsck', '--strict')
    expect(await pushBuildContext({...FILES, 'job.json': '{"id":2}'}, {url, basicAuth: AUTH, http})).toBe(false)
    expect(git('app1.git', 'rev-parse', 'master').trim()).toBe(first)
  })

  it('a master made between the look and the push is refused by the server, never replaced: "launched before"', async () => {
    const url = bareRepo('race.git')
    const other = rootCommitPack({Dockerfile: 'FROM other\n', 'job.json': '{}', 'runner.toml': ''}, 'other', 1)
    execFileSync('git', ['--git-dir', join(root, 'race.git'), 'index-pack', '--stdin'], {env: env(), input: other.pack})
    // Someone else's master appears right after our ref advertisement.
    const racing: HttpClient = {
      request: async (req) => {
        const res = await http.request(req)
        if (req.method === 'GET' && !git('race.git', 'for-each-ref').includes('refs/heads/master'))
          git('race.git', 'update-ref', 'refs/heads/master', other.commit)
        return res
      },
    }
    expect(await pushBuildContext(FILES, {url, basicAuth: AUTH, http: racing})).toBe(false)
    expect(git('race.git', 'rev-parse', 'master').trim()).toBe(other.commit)
  })

  it('a refusing hook fails the push with what the server said', async () => {
    const url = bareRepo('hook.git', '#!/bin/sh\necho "You tried to push to a custom branch."\nexit 1\n')
    await expect(pushBuildContext(FILES, {url, basicAuth: AUTH, http})).rejects.toMatchObject({
      code: 'git_push',
      message: expect.stringMatching(/pre-receive hook declined.*You tried to push to a custom branch/),
    })
    expect(git('hook.git', 'for-each-ref')).toBe('')
  })

  it('wrong credentials, a missing repository and a server that is not git fail with a clear reason, the credentials in none', async () => {
    const url = bareRepo('auth.git')
    const wrong = Buffer.from('Jenkins:wrong').toString('base64')
    await expect(pushBuildContext(FILES, {url, basicAuth: wrong, http})).rejects.toMatchObject({
      code: 'git_push',
      message: expect.stringContaining('authentication failed (HTTP 401)'),
    })
    await expect(pushBuildContext(FILES, {url: `${base}/absent.git`, basicAuth: AUTH, http})).rejects.toMatchObject({
      code: 'git_push',
      message: expect.stringContaining('HTTP 404'),
    })
    const html: HttpClient = {
      request: async () => ({status: 200, headers: {'content-type': 'text/html'}, body: '<html>login</html>'}),
    }
    const err = await pushBuildContext(FILES, {url, basicAuth: AUTH, http: html}).catch((e: Error) => e)
    expect(String(err)).toContain('not a smart git HTTP server')
    expect(String(err)).not.toContain(AUTH)
  })

  it('follows a redirect of the first request only where the check lets it, and pushes there', async () => {
    const target = bareRepo('moved.git')
    const seen: string[] = []
    const checkRedirect = (to: string): string => {
      seen.push(to)
      return to
    }
    const url = `${base}/moved/moved.git`
    await expect(pushBuildContext(FILES, {url, basicAuth: AUTH, http})).rejects.toMatchObject({
      message: expect.stringContaining(`redirected to ${base}/moved.git/info/refs, not followed`),
    })
    const refuse = (): string => {
      throw new Error('refused: another host')
    }
    await expect(pushBuildContext(FILES, {url, basicAuth: AUTH, http, checkRedirect: refuse})).rejects.toThrow(
      'refused: another host',
    )
    await expect(
      pushBuildContext(FILES, {url: `${base}/elsewhere/x.git`, basicAuth: AUTH, http, checkRedirect}),
    ).rejects.toMatchObject({message: expect.stringContaining('not a git repository')})
    expect(await pushBuildContext(FILES, {url, basicAuth: AUTH, http, checkRedirect})).toBe(true)
    expect(seen).toContain(`${target}/info/refs?service=git-receive-pack`)
    expect(git('moved.git', 'show', 'master:job.json')).toBe(FILES['job.json'])
  })

  it('never hands git an option for a URL', async () => {
    await expect(
      pushBuildContext(FILES, {url: '--upload-pack=touch /tmp/x', basicAuth: AUTH, http}),
    ).rejects.toMatchObject({code: 'git_argument'})
  })
})

describe('pkt-lines', () => {
  it('read the advertisement of an empty repository and of one with master', () => {
    const caps = 'report-status delete-refs side-band-64k quiet agent=git/2.39'
    const empty = Buffer.concat([
      pktLine('# service=git-receive-pack\n'),
      FLUSH,
      pktLine(`${'0'.repeat(40)} capabilities^{}\0${caps}\n`),
      FLUSH,
    ])
    expect(parseAdvertisement(empty)).toEqual({master: undefined, capabilities: new Set(caps.split(' '))})
    const sha = 'a'.repeat(40)
    const full = Buffer.concat([
      pktLine('# service=git-receive-pack\n'),
      FLUSH,
      pktLine(`${'b'.repeat(40)} refs/heads/dev\0${caps}\n`),
      pktLine(`${sha} refs/heads/master\n`),
      FLUSH,
    ])
    expect(parseAdvertisement(full).master).toBe(sha)
    expect(() => parseAdvertisement(Buffer.from('<html>'))).toThrow(/not a pkt-line/)
    expect(() => parseAdvertisement(Buffer.concat([pktLine('# service=git-upload-pack\n'), FLUSH]))).toThrow(
      /not a receive-pack/,
    )
  })

  it('read a side-band report: status on band 1, hook output on band 2, a fatal error on band 3', () => {
    const band = (n: number, data: Buffer | string): Buffer =>
      pktLine(Buffer.concat([Buffer.from([n]), Buffer.from(data)]))
    const status = Buffer.concat([
      pktLine('unpack ok\n'),
      pktLine('ng refs/heads/master pre-receive hook declined\n'),
      FLUSH,
    ])
    const body = Buffer.concat([band(2, 'No.\n'), band(1, status.subarray(0, 7)), band(1, status.subarray(7)), FLUSH])
    expect(parseReport(body, true)).toEqual({
      unpack: 'ok',
      ref: {ok: false, reason: 'pre-receive hook declined'},
      remote: ['No.'],
    })
    expect(
      parseReport(Buffer.concat([pktLine('unpack ok\n'), pktLine('ok refs/heads/master\n'), FLUSH]), false),
    ).toEqual({unpack: 'ok', ref: {ok: true}, remote: []})
    expect(() => parseReport(Buffer.concat([band(3, 'disk full'), FLUSH]), true)).toThrow(/disk full/)
  })
})

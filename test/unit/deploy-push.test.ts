import {execFileSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {contextObjects, pushBuildContext, pushOutcome} from '../../src/plugins/clever-docker/deploy-push.js'
import {withFakeGit} from '../helpers/fake-git.js'

describe('deploy push', () => {
  it('reads git push --porcelain: a new master is pushed; an existing one (rejected or equal) is "exists"; anything else unknown', () => {
    expect(pushOutcome('To http://x/app.git\n*\trefs/heads/master:refs/heads/master\t[new branch]\nDone\n')).toBe(
      'pushed',
    )
    expect(
      pushOutcome(
        'To http://x/app.git\n!\trefs/heads/master:refs/heads/master\t[rejected] (fetch first)\nDone\nerror: failed to push some refs',
      ),
    ).toBe('exists')
    expect(pushOutcome('!\trefs/heads/master:refs/heads/master\t[rejected] (non-fast-forward)\n')).toBe('exists')
    expect(pushOutcome('=\trefs/heads/master:refs/heads/master\t[up to date]\n')).toBe('exists')
    // A hook or a server refusal is a failure, never "launched before".
    expect(
      pushOutcome('!\trefs/heads/master:refs/heads/master\t[remote rejected] (pre-receive hook declined)\n'),
    ).toBeUndefined()
    expect(pushOutcome("fatal: unable to access 'http://x/': Could not resolve host\n")).toBeUndefined()
    expect(pushOutcome('*\trefs/heads/master:refs/heads/other\t[new branch]\n')).toBeUndefined()
  })

  it('the loose objects make one root commit with the three files, byte for byte, that git fsck accepts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpr-lo-'))
    try {
      const files = {Dockerfile: 'FROM x\n', 'runner.toml': 'name = "é"\n', 'job.json': '{"id":1,"s":"data 3\\n"}'}
      const env = {PATH: process.env.PATH!, HOME: dir, GIT_CONFIG_NOSYSTEM: '1'}
      const gitDir = join(dir, 'r.git')
      execFileSync('git', ['init', '-q', '--bare', gitDir], {env})
      const {commit, objects} = contextObjects(files, 1_700_000_000)
      for (const o of objects) {
        mkdirSync(join(gitDir, 'objects', o.sha.slice(0, 2)), {recursive: true})
        writeFileSync(join(gitDir, 'objects', o.sha.slice(0, 2), o.sha.slice(2)), o.deflated)
      }
      const git = (...a: string[]): string => execFileSync('git', ['--git-dir', gitDir, ...a], {env}).toString()
      git('update-ref', 'refs/heads/master', commit)
      git('fsck', '--strict', '--no-dangling')
      expect(git('ls-tree', '--name-only', 'master').split('\n').filter(Boolean)).toEqual([
        'Dockerfile',
        'job.json',
        'runner.toml',
      ])
      for (const [name, text] of Object.entries(files)) expect(git('show', `master:${name}`)).toBe(text)
      expect(git('rev-list', '--count', 'master').trim()).toBe('1')
      // The same commit as git's own: same tree, author and date give the same id.
      const tree = git('write-tree', '--missing-ok').trim()
      expect(git('cat-file', '-p', 'master').split('\n')[0]).toBe(`tree ${git('rev-parse', 'master^{tree}').trim()}`)
      expect(tree).toMatch(/^[0-9a-f]{40}$/)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('follows no redirect: the Authorization header never reaches another host', async () => {
    const seen: Array<{url: string; auth?: string}> = []
    const evil = createServer((req, res) => {
      seen.push({url: req.url ?? '', ...(req.headers.authorization ? {auth: req.headers.authorization} : {})})
      res.writeHead(404).end()
    })
    const home = createServer((req, res) =>
      res.writeHead(302, {location: `http://127.0.0.1:${(evil.address() as AddressInfo).port}${req.url}`}).end(),
    )
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r))
    await new Promise<void>((r) => home.listen(0, '127.0.0.1', r))
    try {
      const url = `http://127.0.0.1:${(home.address() as AddressInfo).port}/app_1.git`
      const files = {Dockerfile: 'FROM x\n', 'runner.toml': 'a = 1\n', 'job.json': '{}'}
      const err = (await pushBuildContext(files, {url, basicAuth: 'c2VjcmV0OnMzY3IzdA=='}).catch(
        (e: unknown) => e,
      )) as {
        code?: string
      }
      expect(err.code).toBe('git_push')
      expect(seen).toEqual([])
    } finally {
      evil.close()
      home.close()
    }
  })

  it('gives up a push that does not end in time, with its own code (a hung server would hold its provisioning slot)', async () => {
    // Takes the request and never answers, as a hung server does.
    const hung = createServer(() => {})
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r))
    try {
      const url = `http://127.0.0.1:${(hung.address() as AddressInfo).port}/app_1.git`
      const files = {Dockerfile: 'FROM x\n', 'runner.toml': 'a = 1\n', 'job.json': '{}'}
      const err = (await pushBuildContext(files, {url, basicAuth: 'c2VjcmV0OnMzY3IzdA==', timeoutS: 1}).catch(
        (e: unknown) => e,
      )) as {code?: string; message?: string}
      expect(err.code).toBe('git_push_timeout')
      expect(err.message).toBe('git push to the deployment repository did not end within 1 s: given up')
      // git's remote helpers outlive it: they too let go of the connection.
      const connections = (): Promise<number> => new Promise((r, j) => hung.getConnections((e, n) => (e ? j(e) : r(n))))
      for (let i = 0; (await connections()) > 0; i++) {
        if (i > 200) throw new Error('a git process still holds its connection to the hung server')
        await new Promise((r) => setTimeout(r, 100))
      }
    } finally {
      hung.closeAllConnections()
      hung.close()
    }
  }, 30_000)

  it('runs one git process, with the credentials in its environment, never on its command line', async () => {
    // A stand-in for git that records how it was called (and pushes nothing).
    await withFakeGit(
      (dir) =>
        `echo "$@" >> ${dir}/calls\nenv | grep '^GIT_CONFIG' >> ${dir}/env\necho "*\trefs/heads/master:refs/heads/master\t[new branch]"\n`,
      async (dir) => {
        const files = {Dockerfile: 'FROM x\n', 'runner.toml': 'a = 1\n', 'job.json': '{}'}
        const pushed = await pushBuildContext(files, {
          url: 'https://git.example/app_1.git',
          basicAuth: 'c2VjcmV0OnMzY3IzdA==',
        })
        expect(pushed).toBe(true)
        const calls = readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n')
        expect(calls).toHaveLength(1)
        expect(calls[0]).toContain('push --porcelain --end-of-options https://git.example/app_1.git')
        expect(calls[0]).not.toContain('c2VjcmV0OnMzY3IzdA==')
        expect(readFileSync(join(dir, 'env'), 'utf8')).toContain('Authorization: Basic c2VjcmV0OnMzY3IzdA==')
      },
    )
  })
})

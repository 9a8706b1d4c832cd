import {execFileSync} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {fastImportStream, pushOutcome} from '../../src/plugins/clever-docker/deploy-push.js'

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

  it('the fast-import stream makes one root commit with the three files, byte for byte', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpr-fi-'))
    try {
      const files = {Dockerfile: 'FROM x\n', 'runner.toml': 'name = "é"\n', 'job.json': '{"id":1,"s":"data 3\\n"}'}
      const env = {PATH: process.env.PATH!, HOME: dir, GIT_CONFIG_NOSYSTEM: '1'}
      execFileSync('git', ['init', '-q', '--bare', join(dir, 'r.git')], {env})
      execFileSync('git', ['fast-import', '--quiet', '--done'], {
        env: {...env, GIT_DIR: join(dir, 'r.git')},
        input: fastImportStream(files, 'Job definition', 1_700_000_000),
      })
      const git = (...a: string[]): string =>
        execFileSync('git', ['--git-dir', join(dir, 'r.git'), ...a], {env}).toString()
      expect(git('ls-tree', '--name-only', 'master').split('\n').filter(Boolean)).toEqual([
        'Dockerfile',
        'job.json',
        'runner.toml',
      ])
      for (const [name, text] of Object.entries(files)) expect(git('show', `master:${name}`)).toBe(text)
      expect(git('rev-list', '--count', 'master').trim()).toBe('1')
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})

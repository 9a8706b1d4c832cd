import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {rm} from 'node:fs/promises'

import {silentLogger, type ExecutorDeps, type RunnerConfig} from '@heptapod-paas-runner/plugin-api'
import {executorContract} from '@heptapod-paas-runner/plugin-api/testing'

import {dirExecutorFactory, type DirConfig} from '../src/index.js'

const TOKEN = 'glrt-templatesecret-token'

function runner(root: string): RunnerConfig<DirConfig> {
  return {
    index: 0,
    url: 'https://gitlab.example',
    token: TOKEN,
    executor: 'example-dir',
    uniqueName: 'template1',
    executorConfig: {example_dir_root: root, example_dir_default_flavor: 'M'},
    forwarded: {name: 'template'},
  }
}

function deps(systemId: string): ExecutorDeps {
  return {
    now: () => Date.now(),
    sleep: (ms, signal) =>
      new Promise((resolve, reject) => {
        const t = setTimeout(resolve, ms)
        signal?.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason)), {once: true})
      }),
    addSecret: () => {},
    log: silentLogger,
    owner: {systemId, runner: 'template1'},
  }
}

executorContract('example-dir', async () => {
  const root = mkdtempSync(join(tmpdir(), 'example-dir-'))
  const make = (systemId = 'r_ours') => dirExecutorFactory.create(runner(root), deps(systemId))
  return {
    executor: make(),
    job: (id) => ({id, token: `job-token-${id}`}),
    secrets: [TOKEN],
    reopen: async () => make(),
    otherDaemon: async () => make('r_theirs'),
    cleanup: () => rm(root, {recursive: true, force: true}),
  }
})

import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {executorContract} from '../src/core/testing/executor-contract.js'
import type {Executor, ExecutorFactory} from '../src/core/executor.js'
import {silentLogger} from '../src/core/logger.js'
import type {RunnerConfig} from '../src/core/config/config-types.js'
import {dropMemoryCloud} from '../src/test-doubles/memory/memory-cloud.js'
import {memoryExecutorFactory} from '../src/test-doubles/memory/memory-executor.js'
import {shortToken} from '../src/core/identity/short-token.js'
import {REPO} from './helpers/cli.js'

const TOKEN = 'glrt-contract-token-secret'
const deps = {
  now: () => 0,
  sleep: async () => {},
  addSecret: () => {},
  log: silentLogger,
  owner: {systemId: 'r_contract', runner: shortToken(TOKEN)},
}
/** The same runner on another daemon. */
const otherDeps = {...deps, owner: {systemId: 'r_otherdaemon', runner: shortToken(TOKEN)}}

function runner<E extends Record<string, unknown>>(executor: string, executorConfig: E): RunnerConfig<E> {
  return {
    index: 0,
    url: 'https://gitlab.example',
    token: TOKEN,
    executor,
    uniqueName: shortToken(TOKEN),
    executorConfig,
    forwarded: {},
  }
}

let cloudSeq = 0
executorContract('memory (bundled plugin)', async () => {
  const cloud = `contract-${++cloudSeq}`
  const cfg = {memory_cloud: cloud, memory_default_flavor: 'M'}
  const executor = memoryExecutorFactory.create(runner('memory', cfg), deps)
  return {
    executor,
    job: (id) => ({id, token: `job-token-${id}-secret`, variables: []}),
    secrets: [TOKEN],
    reopen: async () => memoryExecutorFactory.create(runner('memory', cfg), deps),
    otherDaemon: async () => memoryExecutorFactory.create(runner('memory', cfg), otherDeps),
    cleanup: async () => dropMemoryCloud(cloud),
  }
})

executorContract('memory with a directory-backed cloud', async () => {
  const cfg = {
    memory_cloud: 'unused',
    memory_cloud_dir: mkdtempSync(join(tmpdir(), 'hpr-dircloud-')),
    memory_default_flavor: 'M',
  }
  return {
    executor: memoryExecutorFactory.create(runner('memory', cfg), deps),
    job: (id) => ({id, token: `job-token-${id}-secret`, variables: []}),
    secrets: [TOKEN],
    reopen: async () => memoryExecutorFactory.create(runner('memory', cfg), deps),
    otherDaemon: async () => memoryExecutorFactory.create(runner('memory', cfg), otherDeps),
  }
})

executorContract('linked-test (third-party plugin in plain JavaScript)', async () => {
  const mod = (await import(join(REPO, 'test/fixtures/linked-executor-plugin/hooks/executors.js'))) as {
    default: () => Promise<ExecutorFactory[]>
  }
  const [factory] = await mod.default()
  const token = `linked-${++cloudSeq}-token-secret`
  const r = {...runner('linked-test', {linked_flavor: 'one'}), token, uniqueName: shortToken(token)}
  const executor: Executor = factory!.create(r, {...deps, owner: {systemId: 'r_contract', runner: shortToken(token)}})
  return {
    executor,
    job: (id) => ({id, token: `job-token-${id}`, variables: []}),
    secrets: [token],
    cleanup: async () => {
      for (const o of (await executor.listOwned({})).owned) await executor.decommission(o.resource, {})
    },
  }
})

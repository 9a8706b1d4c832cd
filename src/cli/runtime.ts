import {readFile} from 'node:fs/promises'
import {dirname, join, resolve} from 'node:path'

import type {Config as OclifConfig} from '@oclif/core'

import type {Config} from '../core/config/config-types.js'
import {parseConfig} from '../core/config/parse-config.js'
import {ConfigError} from '../core/errors.js'
import type {Executor, ExecutorDeps} from '../core/executor.js'
import type {Logger} from '../core/logger.js'
import {Redactor} from '../core/redact.js'
import {discoverExecutors, factoriesByName, type ExecutorDiscovery} from '../plugin-api/executors-hook.js'
import {abortableSleep} from '../adapters/clock/real-clock.js'

export {abortableSleep}

/** State file used when the config has no `state_file`: next to the config file. */
export const DEFAULT_STATE_FILE_NAME = 'paas-runner-state.json'

export interface LoadedConfig {
  config: Config
  discovery: ExecutorDiscovery
  redactor: Redactor
}

/**
 * The composition step every command that reads a config uses: discover executor plugins,
 * read and validate the file. Throws ConfigError (exit code 2) with `file:line` details.
 */
export async function loadConfigFile(oclif: OclifConfig, path: string, redactor = new Redactor()): Promise<LoadedConfig> {
  const discovery = await discoverExecutors(oclif)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : String(code ?? error)
    throw new ConfigError(path, [{path: '', message: `cannot read the configuration file: ${why}`}])
  }
  const config = parseConfig(text, {
    file: path,
    executors: factoriesByName(discovery),
    defaultStateFile: join(dirname(resolve(path)), DEFAULT_STATE_FILE_NAME),
    redactor,
  })
  return {config, discovery, redactor}
}

/** Builds the executor of every runner, in config order, loaded and ready. */
export async function createExecutors(loaded: LoadedConfig, deps: (runnerIndex: number) => ExecutorDeps): Promise<Executor[]> {
  const executors = loaded.config.runners.map((r) => {
    const installed = loaded.discovery.executors.get(r.executor)
    if (!installed) throw new ConfigError(loaded.config.file, [{path: `runners[${r.index}].executor`, message: `unknown executor '${r.executor}'`}])
    return installed.factory.create(r, deps(r.index))
  })
  await Promise.all(executors.map((e) => e.ready?.()))
  return executors
}

/** Default executor services for commands: real clock, abortable sleep, redaction, a logger. */
export function defaultExecutorDeps(logger: Logger, redactor: Redactor): ExecutorDeps {
  return {
    now: () => Date.now(),
    sleep: abortableSleep,
    addSecret: (s) => redactor.add(s),
    log: logger,
  }
}

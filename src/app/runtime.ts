import {existsSync} from 'node:fs'
import {readFile} from 'node:fs/promises'
import {basename, dirname, extname, join, resolve} from 'node:path'

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

/** The default state file of earlier versions, the same for every config file of a folder. */
export const LEGACY_DEFAULT_STATE_FILE_NAME = 'paas-runner-state.json'

/**
 * State file used when the config has no `state_file`: `<config name>.state.json` next to it,
 * so two config files of one folder never share one. A `paas-runner-state.json` left there by an
 * earlier version is still used when the new name does not exist yet, so no state is lost.
 */
export function defaultStateFile(configPath: string): {path: string; legacy: boolean} {
  const dir = dirname(resolve(configPath))
  const name = basename(configPath, extname(configPath))
  const path = join(dir, `${name}.state.json`)
  const legacy = join(dir, LEGACY_DEFAULT_STATE_FILE_NAME)
  if (!existsSync(path) && existsSync(legacy)) return {path: legacy, legacy: true}
  return {path, legacy: false}
}

export interface LoadedConfig {
  config: Config
  discovery: ExecutorDiscovery
  redactor: Redactor
  /** Set when the state file is the earlier versions' default name, kept so no state is lost. */
  legacyStateFile?: string
}

/**
 * The composition step every command that reads a config uses: discover executor plugins,
 * read and validate the file. Throws ConfigError (exit code 2) with `file:line` details.
 */
export async function loadConfigFile(
  oclif: OclifConfig,
  path: string,
  redactor = new Redactor(),
): Promise<LoadedConfig> {
  return loadConfigWith(await discoverExecutors(oclif), path, redactor)
}

/** `loadConfigFile` with the executors already discovered (the fast path of `status` finds them without oclif). */
export async function loadConfigWith(
  discovery: ExecutorDiscovery,
  path: string,
  redactor = new Redactor(),
): Promise<LoadedConfig> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'is a directory'
            : String(code ?? error)
    throw new ConfigError(path, [{path: '', message: `cannot read the configuration file: ${why}`}])
  }
  const stateDefault = defaultStateFile(path)
  const config = parseConfig(text, {
    file: path,
    executors: factoriesByName(discovery),
    defaultStateFile: stateDefault.path,
    redactor,
  })
  const usesLegacy = stateDefault.legacy && config.stateFile === stateDefault.path
  return {config, discovery, redactor, ...(usesLegacy ? {legacyStateFile: stateDefault.path} : {})}
}

/** Builds the executor of every runner, in config order, loaded and ready. */
export async function createExecutors(
  loaded: LoadedConfig,
  deps: (runnerIndex: number) => ExecutorDeps,
): Promise<Executor[]> {
  const executors = loaded.config.runners.map((r) => {
    const installed = loaded.discovery.executors.get(r.executor)
    if (!installed)
      throw new ConfigError(loaded.config.file, [
        {path: `runners[${r.index}].executor`, message: `unknown executor '${r.executor}'`},
      ])
    return installed.factory.create(r, deps(r.index))
  })
  await Promise.all(executors.map(async (e) => void (await e.ready?.())))
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

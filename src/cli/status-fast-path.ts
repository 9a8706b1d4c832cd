import {existsSync, readFileSync} from 'node:fs'
import {homedir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {pathToFileURL} from 'node:url'

import {ConfigError, formatIssue, PaasRunnerError, StartupError} from '../core/errors.js'
import {Redactor} from '../core/redact.js'
import {EXECUTORS_HOOK, indexExecutors, type ExecutorDiscovery, type HookOutcome} from '../plugin-api/executors-hook.js'
import {defaultConfigPath} from './default-config-path.js'
import {EXIT_CONFIG, EXIT_UNEXPECTED} from './exit-codes.js'
import {loadConfigWith} from '../app/runtime.js'
import {runStatus} from './status-report.js'

/**
 * `status` without oclif. Loading oclif (its modules, its config and plugin manifests) is about
 * half of the cold start of `status`, which operators and scripts run often; bin/run.cjs answers
 * the plain forms of `status` here and hands everything else to oclif. The output, exit codes and
 * error messages are those of `src/commands/status.ts`: both call `runStatus`.
 */

/** Flags and argument of a plain `status` invocation. */
export interface PlainStatusArgs {
  configPath: string | undefined
  json: boolean
}

/**
 * `status [CONFIG] [-c FILE | --config FILE | --config=FILE] [--json]`, each at most once, with
 * no `CONFIG_FILE` in the environment. Anything else (help, unknown flags, two files, `--`):
 * undefined, and oclif parses it and says what is wrong.
 */
export function parsePlainStatusArgs(argv: readonly string[], env: NodeJS.ProcessEnv): PlainStatusArgs | undefined {
  if (env.CONFIG_FILE !== undefined) return undefined
  let positional: string | undefined
  let flag: string | undefined
  let json = false
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--json' && !json) json = true
    else if (
      (a === '-c' || a === '--config') &&
      flag === undefined &&
      i + 1 < argv.length &&
      !argv[i + 1]!.startsWith('-')
    )
      flag = argv[++i]
    else if (a.startsWith('--config=') && flag === undefined && a.length > '--config='.length)
      flag = a.slice('--config='.length)
    else if (!a.startsWith('-') && a !== '' && positional === undefined) positional = a
    else return undefined
  }
  if (positional !== undefined && flag !== undefined) return undefined
  return {configPath: positional ?? flag, json}
}

/**
 * oclif's data directory, where `plugins install` and `plugins link` record user plugins in a
 * package.json (`HEPTAPOD_PAAS_RUNNER_DATA_DIR`, else `$XDG_DATA_HOME/<dirname>`, else
 * `~/.local/share/<dirname>`). When that file exists, oclif must load those plugins.
 */
export function userPluginsFile(
  cli: {bin: string; dirname: string},
  env: NodeJS.ProcessEnv,
  home = env.HOME || homedir(),
): string {
  // As oclif's Config.scopedEnvVarKey and Config.dir('data').
  const scoped = env[`${cli.bin.replaceAll('@', '').replaceAll(/[/-]/g, '_').toUpperCase()}_DATA_DIR`]
  const dataDir = scoped || join(env.XDG_DATA_HOME || join(home, '.local/share'), cli.dirname)
  return join(dataDir, 'package.json')
}

export interface PackageJson {
  name?: string
  oclif?: {dirname?: string; bin?: string; plugins?: unknown; hooks?: Record<string, unknown>}
}

export function readPackageJson(path: string): PackageJson {
  return JSON.parse(readFileSync(path, 'utf8')) as PackageJson
}

/** The package.json of `name`, as node_modules resolution finds it from `root`. */
function findPackage(root: string, name: string): string | undefined {
  for (let dir = root; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name, 'package.json')
    if (existsSync(candidate)) return candidate
    if (dirname(dir) === dir) return undefined
  }
}

/** A core plugin's `paas:executors` hook, by the path its package.json gives (from the package's folder). */
export type PreloadedHooks = ReadonlyMap<string, unknown>

/** A core plugin's `paas:executors` hook: the plugin, the path its package.json gives, and that file. */
export interface CoreHook {
  plugin: string
  hook: string
  file: string
}

/**
 * The `paas:executors` hooks of the bundled plugins (the `oclif.plugins` of our package.json), as
 * oclif finds those of core plugins. Undefined when a plugin or its hook cannot be found in the
 * plain form this reads. scripts/bundle-status.mjs puts the same hooks in the status bundle.
 */
export function coreExecutorHooks(root: string, pjson: PackageJson): CoreHook[] | undefined {
  const plugins = pjson.oclif?.plugins
  if (!Array.isArray(plugins)) return undefined
  const hooks: CoreHook[] = []
  for (const plugin of plugins) {
    if (typeof plugin !== 'string') return undefined
    const path = findPackage(root, plugin)
    if (!path) return undefined
    const hook = readPackageJson(path).oclif?.hooks?.[EXECUTORS_HOOK]
    if (hook === undefined) continue
    if (typeof hook !== 'string') return undefined
    hooks.push({plugin, hook, file: resolve(dirname(path), hook)})
  }
  return hooks
}

/**
 * Runs the core plugins' `paas:executors` hooks, as oclif would. Undefined when they cannot be
 * found (oclif then does it). `preloaded`: hooks already in this module (the bundle of this fast
 * path holds them), by `<plugin name> <hook path>`; any other is imported.
 */
export async function bundledExecutors(
  root: string,
  pjson: PackageJson,
  preloaded: PreloadedHooks = new Map(),
): Promise<ExecutorDiscovery | undefined> {
  const hooks = coreExecutorHooks(root, pjson)
  if (!hooks) return undefined
  const outcome: HookOutcome = {successes: [], failures: []}
  for (const {plugin: name, hook, file} of hooks) {
    const plugin = {name, type: 'core'}
    try {
      const run =
        preloaded.get(`${name} ${hook}`) ?? ((await import(pathToFileURL(file).href)) as {default?: unknown}).default
      if (typeof run !== 'function') return undefined
      outcome.successes.push({plugin, result: await (run as (o: object) => unknown)({})})
    } catch (error) {
      outcome.failures.push({plugin, error: error instanceof Error ? error : new Error(String(error))})
    }
  }
  return indexExecutors(outcome)
}

/**
 * Answers `status ARGV` (the words after `status`) without oclif: the exit code, or undefined
 * when oclif must run it (not a plain form, user plugins installed, or an error that is not ours:
 * `status` only reads, so running it again is harmless). Writes nothing before it is sure to answer.
 */
export async function fastStatus(
  argv: readonly string[],
  root: string,
  env: NodeJS.ProcessEnv = process.env,
  preloaded?: PreloadedHooks,
): Promise<number | undefined> {
  const args = parsePlainStatusArgs(argv, env)
  if (!args) return undefined
  const pjson = readPackageJson(join(root, 'package.json'))
  const name = pjson.name
  if (!name || existsSync(userPluginsFile({bin: pjson.oclif?.bin ?? name, dirname: pjson.oclif?.dirname ?? name}, env)))
    return undefined
  const discovery = await bundledExecutors(root, pjson, preloaded)
  if (!discovery) return undefined
  const redactor = new Redactor()
  const stderr: string[] = []
  let stdout: string | undefined
  let code: number
  try {
    const {config} = await loadConfigWith(discovery, args.configPath ?? defaultConfigPath(env), redactor)
    for (const w of config.warnings) stderr.push(`warning: ${formatIssue(config.file, w)}`)
    for (const p of discovery.problems) stderr.push(`warning: ${redactor.redact(p)}`)
    code = (await runStatus(config, redactor, args.json, (s) => (stdout = s))).code
  } catch (error) {
    // As BaseCommand.catch prints them.
    if (error instanceof ConfigError) {
      stderr.push(redactor.redact(`configuration error:\n${error.message}`))
      code = EXIT_CONFIG
    } else if (error instanceof StartupError) {
      stderr.push(redactor.redact(`cannot start [${error.code}]: ${error.message}`))
      code = EXIT_CONFIG
    } else if (error instanceof PaasRunnerError) {
      stderr.push(redactor.redact(`error [${error.code}]: ${error.message}`))
      code = EXIT_UNEXPECTED
    } else {
      return undefined
    }
  }
  // As oclif's `this.log` and `this.logToStderr` (console.log and console.error) write them.
  for (const line of stderr) process.stderr.write(`${line}\n`)
  if (stdout !== undefined) process.stdout.write(`${stdout}\n`)
  return code
}

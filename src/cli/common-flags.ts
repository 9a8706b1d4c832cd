import {Args, Errors, Flags} from '@oclif/core'

import type {LogLevel} from '../core/config/config-types.js'
import {defaultConfigPath} from './default-config-path.js'

export {defaultConfigPath}

/** `CONFIG` as a positional argument (the original's form), optional since `-c` or the default may name it. */
export const configArg = Args.string({description: 'configuration file (same as -c; default: see --config)'})

/** `-c/--config FILE`, as gitlab-runner spells it, also read from `CONFIG_FILE`. */
export const configFlag = Flags.string({
  char: 'c',
  env: 'CONFIG_FILE',
  description:
    'configuration file (default: $HEPTAPOD_PAAS_RUNNER_CONFIG_DIR/config.toml, else /etc/heptapod-paas-runner/config.toml as root, else ~/.config/heptapod-paas-runner/config.toml)',
  helpValue: 'FILE',
})

/** The file a command works on: the argument, else `-c`, else the default. Both, different: a usage error. */
export function resolveConfigPath(arg: string | undefined, flag: string | undefined): string {
  if (arg !== undefined && flag !== undefined && arg !== flag) {
    throw new Errors.CLIError(`two configuration files given (${arg} and -c ${flag}): give one`, {exit: 2})
  }
  return arg ?? flag ?? defaultConfigPath()
}

/** Log levels as written anywhere: ours, GitLab's (`warning`, `panic`) and Python's (`WARNING`, `CRITICAL`), any case. */
export function parseLogLevel(input: string): LogLevel {
  const l = input.trim().toLowerCase()
  const map: Record<string, LogLevel> = {
    trace: 'trace',
    debug: 'debug',
    info: 'info',
    warn: 'warn',
    warning: 'warn',
    error: 'error',
    fatal: 'fatal',
    critical: 'fatal',
    panic: 'fatal',
  }
  const level = map[l]
  if (!level)
    throw new Errors.CLIError(
      `unknown log level '${input}': use one of debug, info, warning, error, fatal (any case)`,
      {exit: 2},
    )
  return level
}

/** `-l/--log-level` (also `--logging-level`, the original's spelling), any case. */
export const logLevelFlag = Flags.custom<LogLevel>({
  char: 'l',
  aliases: ['logging-level'],
  helpValue: 'LEVEL',
  description: 'log level: debug, info, warning, error, fatal, any case (default: log_level of the config, else info)',
  parse: async (input) => parseLogLevel(input),
})

import {Command} from '@oclif/core'

import {ConfigError, formatIssue, PaasRunnerError, StartupError} from '../core/errors.js'
import {Redactor} from '../core/redact.js'
import {EXIT_CONFIG, EXIT_UNEXPECTED} from './exit-codes.js'
import {loadConfigFile, type LoadedConfig} from '../app/runtime.js'

export {EXIT_CONFIG, EXIT_UNEXPECTED}

/**
 * Base of our commands: maps errors to exit codes and prints them without secrets.
 * Subclasses register secrets in `this.redactor` as soon as they learn them.
 */
export abstract class BaseCommand extends Command {
  protected readonly redactor = new Redactor()

  /** Loads and validates the config file; prints its warnings (deprecated spellings, unknown keys) to stderr. */
  protected async loadConfig(path: string): Promise<LoadedConfig> {
    const loaded = await loadConfigFile(this.config, path, this.redactor)
    for (const w of loaded.config.warnings) this.logToStderr(`warning: ${formatIssue(loaded.config.file, w)}`)
    for (const p of loaded.discovery.problems) this.logToStderr(`warning: ${this.redactor.redact(p)}`)
    return loaded
  }

  protected async catch(err: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    if (err instanceof ConfigError) {
      this.logToStderr(this.redactor.redact(`configuration error:\n${err.message}`))
      this.exit(EXIT_CONFIG)
    }
    if (err instanceof StartupError) {
      this.logToStderr(this.redactor.redact(`cannot start [${err.code}]: ${err.message}`))
      this.exit(EXIT_CONFIG)
    }
    if (err instanceof PaasRunnerError) {
      this.logToStderr(this.redactor.redact(`error [${err.code}]: ${err.message}`))
      this.exit(EXIT_UNEXPECTED)
    }
    // oclif's own errors (bad flags, exit()) keep their behaviour, minus any secret.
    if (err.message) err.message = this.redactor.redact(err.message)
    return super.catch(err)
  }
}

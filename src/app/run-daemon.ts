import type {Config as OclifConfig} from '@oclif/core'

import {journaldWanted} from '../adapters/logging/pino-logger.js'
import type {Config, LogLevel} from '../core/config/config-types.js'
import {formatIssue} from '../core/errors.js'
import type {Redactor} from '../core/redact.js'
import {startDaemon, type Daemon} from './daemon.js'
import {loadConfigFile, type LoadedConfig} from './runtime.js'
import {hangUpSignal, stopSignals} from './signals.js'
import {withTui} from './with-tui.js'

export interface RunDaemonOptions {
  oclif: OclifConfig
  /** The configuration file, read again at each SIGHUP. */
  path: string
  loaded: LoadedConfig
  redactor: Redactor
  /** `--log-level`; else the file's `log_level`. */
  level?: LogLevel
  /** The original's command-line overrides (deprecated flags), applied again at each reload. */
  overrides?: Partial<Pick<Config, 'checkInterval' | 'jobProgressPollInterval'>>
  tui: boolean
  /** Stop after this many polling cycles of each runner (tests). */
  pollCycles?: number
  allowIdle: boolean
  /** SIGUSR1 logs a dump of the state. */
  debugSignal: boolean
  /** Prints a line for the person at the terminal (stdout), and a warning (stderr). */
  print(line: string): void
  warn(line: string): void
}

/**
 * The `run` command's daemon, from start to stop: logger (or TUI), SIGHUP reloads, stop signals,
 * then a graceful stop. Resolves once stopped; a second stop signal exits the process at once.
 */
export async function runDaemon(o: RunDaemonOptions): Promise<void> {
  const {config} = o.loaded
  const override = (c: Config): void => {
    Object.assign(c, o.overrides ?? {})
  }
  override(config)
  await withTui(
    {
      wanted: o.tui,
      logFile: `${config.stateFile}.log`,
      level: o.level ?? config.logLevel,
      redactor: o.redactor,
      journald: journaldWanted(),
      warn: o.warn,
    },
    async (ui) => {
      const {logger} = ui
      let daemon: Daemon | undefined
      const hangUp = hangUpSignal(() => {
        logger.warn('caught SIGHUP: reloading the configuration', {file: o.path})
        void daemon?.reload(async () => {
          const next = await loadConfigFile(o.oclif, o.path, o.redactor)
          override(next.config)
          for (const w of next.config.warnings) logger.warn(`configuration: ${formatIssue(next.config.file, w)}`)
          return next
        })
      })
      const started = await startDaemon(o.loaded, logger, {
        ...(o.pollCycles === undefined ? {} : {maxPollCycles: o.pollCycles}),
        ...(o.allowIdle ? {allowIdle: true} : {}),
      })
      daemon = started
      hangUp.ready()
      const force = (): void => {
        logger.warn('forced exit; the state file is up to date')
        ui.flush()
        process.exit(0)
      }
      const signals = stopSignals({
        onFirst: (sig) => logger.warn(`caught ${sig}: graceful shutdown (a second signal exits at once)`),
        onForce: force,
      })
      if (o.debugSignal)
        process.on('SIGUSR1', () => logger.warn('state dump (SIGUSR1)', {snapshot: started.dispatcher.snapshot()}))
      const stopped = Promise.race([
        signals.stopRequested,
        started.dispatcher.intakeDone().then(() => `all runners did ${o.pollCycles} polling cycles`),
      ])
      await ui.runUntilStopped(started, {onForce: force, stopped})
      if (ui.logFile) o.print(`stopped; the log is in ${ui.logFile}`)
      logger.warn('stopped')
    },
  )
}

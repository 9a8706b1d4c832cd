import {Args, Flags} from '@oclif/core'

import {createLogger} from '../adapters/logging/pino-logger.js'
import {BaseCommand} from '../cli/base-command.js'
import {startDaemon} from '../cli/daemon.js'
import type {LogLevel} from '../core/config/config-types.js'

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const

export default class Run extends BaseCommand {
  static override description = `Run the daemon: take jobs from the coordinators, run each on a fresh PAAS resource, delete it afterwards.

SIGTERM or SIGINT stops gracefully: intake stops at once, operations that must not be cut finish, then it exits 0 (allow 120 s, as systemd's TimeoutStopSec=120). A second signal exits at once; the state file is always up to date.`

  static override examples = ['<%= config.bin %> run /etc/heptapod-runner/paas-runner.toml', '<%= config.bin %> run config.toml --log-level debug --debug-signal']

  static override args = {
    config: Args.string({description: 'path of the configuration file', required: true}),
  }

  static override flags = {
    'log-level': Flags.string({char: 'l', aliases: ['logging-level'], options: [...LEVELS], description: 'log level (default: log_level of the config, else info)'}),
    'poll-cycles': Flags.integer({min: 1, description: 'stop after this many polling cycles of each runner (for tests)'}),
    'debug-signal': Flags.boolean({description: 'SIGUSR1 logs a dump of the state (without secrets)'}),
    tui: Flags.boolean({description: 'live terminal view (not available yet in this version)'}),
    'poll-interval': Flags.integer({hidden: true, description: 'deprecated: use check_interval in the config'}),
    'job-progress-poll-interval': Flags.integer({hidden: true, description: 'deprecated: use job_progress_poll_interval in the config'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Run)
    if (flags.tui) {
      this.logToStderr('The live TUI (--tui) is not available in this version yet. Run without --tui: logs go to stderr.')
      this.exit(2)
    }
    const loaded = await this.loadConfig(args.config)
    const {config} = loaded
    if (flags['poll-interval'] !== undefined) {
      this.logToStderr('warning: --poll-interval is deprecated: set check_interval in the configuration')
      config.checkInterval = flags['poll-interval']
    }
    if (flags['job-progress-poll-interval'] !== undefined) {
      this.logToStderr('warning: --job-progress-poll-interval is deprecated: set job_progress_poll_interval in the configuration')
      config.jobProgressPollInterval = flags['job-progress-poll-interval']
    }
    const level = (flags['log-level'] as LogLevel | undefined) ?? config.logLevel
    const {logger, flush} = createLogger({level, pretty: Boolean(process.stderr.isTTY), redactor: this.redactor})
    const daemon = await startDaemon(loaded, logger, flags['poll-cycles'] === undefined ? {} : {maxPollCycles: flags['poll-cycles']})

    let signals = 0
    const stopRequested = new Promise<string>((resolve) => {
      const onSignal = (sig: NodeJS.Signals): void => {
        signals++
        if (signals === 1) {
          logger.warn(`caught ${sig}: graceful shutdown (a second signal exits at once)`)
          resolve(sig)
          return
        }
        logger.warn(`caught ${sig} again: exiting now; the state file is up to date`)
        flush()
        process.exit(0)
      }
      process.on('SIGTERM', onSignal)
      process.on('SIGINT', onSignal)
    })
    if (flags['debug-signal']) {
      process.on('SIGUSR1', () => logger.warn('state dump (SIGUSR1)', {snapshot: daemon.dispatcher.snapshot()}))
    }
    const reason = await Promise.race([stopRequested, daemon.dispatcher.intakeDone().then(() => `all runners did ${flags['poll-cycles']} polling cycles`)])
    await daemon.stop(reason)
    logger.warn('stopped')
    flush()
  }
}

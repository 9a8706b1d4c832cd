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
    tui: Flags.boolean({description: 'live terminal view of jobs, weights and provisioning (logs then go to <state file>.log)'}),
    'allow-idle': Flags.boolean({description: 'start even when the quota can never hold the heaviest flavor of a runner (that runner then never takes a job)'}),
    'poll-interval': Flags.integer({hidden: true, min: 1, max: 3600, description: 'deprecated: use check_interval in the config'}),
    'job-progress-poll-interval': Flags.integer({hidden: true, min: 1, max: 3600, description: 'deprecated: use job_progress_poll_interval in the config'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Run)
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
    const tty = Boolean(process.stdout.isTTY && process.stdin.isTTY)
    if (flags.tui && !tty) this.logToStderr('warning: --tui needs a terminal; showing plain log lines instead')
    const useTui = flags.tui && tty
    const model = useTui ? new (await import('../tui/tui-model.js')).TuiModel() : undefined
    const logFile = `${config.stateFile}.log`
    const destination = model ? (await import('../tui/start-tui.js')).tuiLogDestination(logFile, model) : undefined
    const {logger, flush} = createLogger({level, pretty: !destination && Boolean(process.stderr.isTTY), redactor: this.redactor, ...(destination ? {destination} : {})})
    const daemon = await startDaemon(loaded, logger, {...(flags['poll-cycles'] === undefined ? {} : {maxPollCycles: flags['poll-cycles']}), ...(flags['allow-idle'] ? {allowIdle: true} : {})})

    let signals = 0
    const force = (): void => {
      logger.warn('forced exit; the state file is up to date')
      flush()
      process.exit(0)
    }
    const stopRequested = new Promise<string>((resolve) => {
      const onSignal = (sig: NodeJS.Signals): void => {
        signals++
        if (signals === 1) {
          logger.warn(`caught ${sig}: graceful shutdown (a second signal exits at once)`)
          resolve(sig)
          return
        }
        force()
      }
      process.on('SIGTERM', onSignal)
      process.on('SIGINT', onSignal)
    })
    if (flags['debug-signal']) {
      process.on('SIGUSR1', () => logger.warn('state dump (SIGUSR1)', {snapshot: daemon.dispatcher.snapshot()}))
    }
    const stopped = Promise.race([stopRequested, daemon.dispatcher.intakeDone().then(() => `all runners did ${flags['poll-cycles']} polling cycles`)])
    if (model) {
      const {runTui} = await import('../tui/start-tui.js')
      await runTui(daemon, model, {onForce: force, stopped})
      this.log(`stopped; the log is in ${logFile}`)
    } else {
      await daemon.stop(await stopped)
    }
    logger.warn('stopped')
    flush()
  }
}

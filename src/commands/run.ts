import {Flags} from '@oclif/core'

import {createLogger, journaldWanted} from '../adapters/logging/pino-logger.js'
import {BaseCommand} from '../cli/base-command.js'
import {configArg, configFlag, logLevelFlag, resolveConfigPath} from '../cli/common-flags.js'
import {startDaemon, type Daemon} from '../cli/daemon.js'
import {loadConfigFile} from '../cli/runtime.js'
import type {Config} from '../core/config/config-types.js'
import {formatIssue} from '../core/errors.js'

/** The daemon lost its lease of the cluster (EX_TEMPFAIL): restart it (systemd `Restart=on-failure`). */
export const EXIT_LEASE_LOST = 75

export default class Run extends BaseCommand {
  static override description = `Run the daemon: take jobs from the coordinators, run each on a fresh PAAS resource, delete it afterwards.

SIGTERM, SIGINT or SIGQUIT stops gracefully: intake stops at once, operations that must not be cut finish, then it exits 0 (allow 120 s, as systemd's TimeoutStopSec=120). A second signal exits at once; the state file is always up to date.

With state_url, daemons on the same database and state_schema form a cluster (shared quota and limits, failover); a daemon that cannot renew its lease stops taking jobs, and exits 75 once the lease expired (restart it: it joins again).

SIGHUP reloads the configuration: added runners start polling, removed ones stop taking jobs and finish theirs, changed limits apply; a configuration that does not load is refused with a log line and the running one is kept.

The original's form \`heptapod-paas-runner CONFIG -l INFO\` runs this command too.`

  static override examples = [
    '<%= config.bin %> run /etc/heptapod-runner/paas-runner.toml',
    '<%= config.bin %> run -c config.toml --log-level debug --debug-signal',
    '<%= config.bin %> /etc/heptapod-runner/paas-runner.toml -l INFO',
  ]

  static override args = {
    config: configArg,
  }

  static override flags = {
    config: configFlag,
    'log-level': logLevelFlag(),
    'poll-cycles': Flags.integer({
      min: 1,
      description: 'stop after this many polling cycles of each runner (for tests)',
    }),
    'debug-signal': Flags.boolean({description: 'SIGUSR1 logs a dump of the state (without secrets)'}),
    tui: Flags.boolean({
      description: 'live terminal view of jobs, weights and provisioning (logs then go to <state file>.log)',
    }),
    'allow-idle': Flags.boolean({
      description:
        'start even when the quota can never hold the heaviest flavor of a runner (that runner then never takes a job)',
    }),
    'poll-interval': Flags.integer({
      hidden: true,
      min: 1,
      max: 3600,
      description: 'deprecated: use check_interval in the config',
    }),
    'job-progress-poll-interval': Flags.integer({
      hidden: true,
      min: 1,
      max: 3600,
      description: 'deprecated: use job_progress_poll_interval in the config',
    }),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Run)
    const path = resolveConfigPath(args.config, flags.config)
    const loaded = await this.loadConfig(path)
    const {config} = loaded
    // The original's command-line overrides, applied again at each reload.
    const overrides = (c: Config): void => {
      if (flags['poll-interval'] !== undefined) c.checkInterval = flags['poll-interval']
      if (flags['job-progress-poll-interval'] !== undefined)
        c.jobProgressPollInterval = flags['job-progress-poll-interval']
    }
    if (flags['poll-interval'] !== undefined)
      this.logToStderr('warning: --poll-interval is deprecated: set check_interval in the configuration')
    if (flags['job-progress-poll-interval'] !== undefined)
      this.logToStderr(
        'warning: --job-progress-poll-interval is deprecated: set job_progress_poll_interval in the configuration',
      )
    overrides(config)
    const level = flags['log-level'] ?? config.logLevel
    const tty = Boolean(process.stdout.isTTY && process.stdin.isTTY)
    if (flags.tui && !tty) this.logToStderr('warning: --tui needs a terminal; showing plain log lines instead')
    const useTui = flags.tui && tty
    const model = useTui ? new (await import('../tui/tui-model.js')).TuiModel() : undefined
    const logFile = `${config.stateFile}.log`
    const destination = model ? (await import('../tui/start-tui.js')).tuiLogDestination(logFile, model) : undefined
    const {logger, flush} = createLogger({
      level,
      pretty: !destination && Boolean(process.stderr.isTTY),
      journald: !destination && journaldWanted(),
      redactor: this.redactor,
      ...(destination ? {destination} : {}),
    })
    // SIGHUP would kill the process by default: it is ours from now on, even while starting.
    let daemon: Daemon | undefined
    let reloadAsked = false
    const onHangUp = (): void => {
      if (!daemon) {
        reloadAsked = true
        return
      }
      logger.warn('caught SIGHUP: reloading the configuration', {file: path})
      void daemon.reload(async () => {
        const next = await loadConfigFile(this.config, path, this.redactor)
        overrides(next.config)
        for (const w of next.config.warnings) logger.warn(`configuration: ${formatIssue(next.config.file, w)}`)
        return next
      })
    }
    process.on('SIGHUP', onHangUp)
    const started = await startDaemon(loaded, logger, {
      ...(flags['poll-cycles'] === undefined ? {} : {maxPollCycles: flags['poll-cycles']}),
      ...(flags['allow-idle'] ? {allowIdle: true} : {}),
    })
    daemon = started
    if (reloadAsked) onHangUp()

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
      // gitlab-runner's graceful stop: the same here (running jobs are never cut: they run on their resources).
      process.on('SIGQUIT', onSignal)
    })
    if (flags['debug-signal']) {
      process.on('SIGUSR1', () => logger.warn('state dump (SIGUSR1)', {snapshot: started.dispatcher.snapshot()}))
    }
    let leaseLost = false
    const lost = started.dispatcher.leaseLost.then((why) => {
      leaseLost = true
      return why
    })
    const stopped = Promise.race([
      stopRequested,
      lost,
      started.dispatcher.intakeDone().then(() => `all runners did ${flags['poll-cycles']} polling cycles`),
    ])
    if (model) {
      const {runTui} = await import('../tui/start-tui.js')
      await runTui(started, model, {onForce: force, stopped})
      this.log(`stopped; the log is in ${logFile}`)
    } else {
      await started.stop(await stopped)
    }
    logger.warn('stopped')
    flush()
    // In a cluster, a daemon whose lease expired stops: its supervisor starts it again, and it joins as a new member.
    if (leaseLost) this.exit(EXIT_LEASE_LOST)
  }
}

import {Flags} from '@oclif/core'

import {runDaemon} from '../app/run-daemon.js'
import {BaseCommand} from '../cli/base-command.js'
import {configArg, configFlag, logLevelFlag, resolveConfigPath} from '../cli/common-flags.js'

export default class Run extends BaseCommand {
  static override description = `Run the daemon: take jobs from the coordinators, run each on a fresh PAAS resource, delete it afterwards.

SIGTERM, SIGINT or SIGQUIT stops gracefully: intake stops at once, operations that must not be cut finish, then it exits 0 (allow 120 s, as systemd's TimeoutStopSec=120). A second signal exits at once; the state file is always up to date.

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
    if (flags['poll-interval'] !== undefined)
      this.logToStderr('warning: --poll-interval is deprecated: set check_interval in the configuration')
    if (flags['job-progress-poll-interval'] !== undefined)
      this.logToStderr(
        'warning: --job-progress-poll-interval is deprecated: set job_progress_poll_interval in the configuration',
      )
    await runDaemon({
      oclif: this.config,
      path,
      loaded,
      redactor: this.redactor,
      ...(flags['log-level'] === undefined ? {} : {level: flags['log-level']}),
      overrides: {
        ...(flags['poll-interval'] === undefined ? {} : {checkInterval: flags['poll-interval']}),
        ...(flags['job-progress-poll-interval'] === undefined
          ? {}
          : {jobProgressPollInterval: flags['job-progress-poll-interval']}),
      },
      tui: flags.tui,
      ...(flags['poll-cycles'] === undefined ? {} : {pollCycles: flags['poll-cycles']}),
      allowIdle: flags['allow-idle'],
      debugSignal: flags['debug-signal'],
      print: (line) => this.log(line),
      warn: (line) => this.logToStderr(line),
    })
  }
}

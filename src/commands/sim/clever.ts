import {Flags} from '@oclif/core'

import {BaseCommand, EXIT_CONFIG} from '../../cli/base-command.js'
import {PortInUseError, startCleverSim, untilSignal} from '../../cli/sim-servers.js'

export default class SimClever extends BaseCommand {
  static override hidden = true

  static override description = `Run the Clever Cloud simulator on its own (API v2 and git deployment), to try a clever-docker configuration, @clevercloud/client or clever-tools without Clever Cloud.

Prints one JSON line with its API URL, an organisation and its credentials (organisation token for cc_token; an OAuth1 pair for clever-tools: API_HOST, CLEVER_TOKEN, CLEVER_SECRET, OAUTH_CONSUMER_KEY, OAUTH_CONSUMER_SECRET), then serves until Ctrl-C. A pushed job runs against the GitLab its payload names.
See README.md (Simulators) for what it models and what it does not.`

  static override examples = ['<%= config.bin %> sim clever --port 8081']

  static override flags = {
    port: Flags.integer({description: 'port on 127.0.0.1; 0 picks a free one', default: 0, min: 0, max: 65535}),
    orga: Flags.string({description: 'organisation id', default: 'orga_00000000-0000-4000-8000-000000000001'}),
    token: Flags.string({
      description: 'organisation token (the token scheme; git password with user Jenkins); default: a fresh one',
    }),
    'repo-ready-ms': Flags.integer({
      description: "how long a new app's repoState stays CREATING (ms)",
      default: 1000,
      min: 0,
    }),
    'job-duration-ms': Flags.integer({
      description: 'duration of a pushed job without SIM_JOB_DURATION_MS (ms)',
      default: 5000,
      min: 0,
    }),
    'inner-runner': Flags.boolean({
      description: 'run pushed jobs against GitLab (--no-inner-runner: only record the push)',
      default: true,
      allowNo: true,
    }),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(SimClever)
    if (flags.token) this.redactor.add(flags.token)
    let server
    try {
      server = await startCleverSim({
        port: flags.port,
        orga: flags.orga,
        repoReadyMs: flags['repo-ready-ms'],
        jobDurationMs: flags['job-duration-ms'],
        innerRunner: flags['inner-runner'],
        ...(flags.token ? {token: flags.token} : {}),
      })
    } catch (error) {
      if (error instanceof PortInUseError) {
        this.logToStderr(`error: ${error.message}`)
        this.exit(EXIT_CONFIG)
      }
      throw error
    }
    // The credentials are the point of this command: printed as they are.
    process.stdout.write(`${JSON.stringify(server.info)}\n`)
    await untilSignal()
    await server.stop()
  }
}

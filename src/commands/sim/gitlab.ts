import {Flags} from '@oclif/core'

import {BaseCommand, EXIT_CONFIG} from '../../cli/base-command.js'
import {PortInUseError, startGitLabSim, untilSignal} from '../../cli/sim-servers.js'

export default class SimGitLab extends BaseCommand {
  static override hidden = true

  static override description = `Run the GitLab simulator on its own (runner API, job logs, custom attributes, registration), to try a configuration, \`register\` or an executor plugin without a GitLab.

Prints one JSON line with its URL and credentials, then serves until Ctrl-C. Enqueue a job with:
  curl -XPOST <url>/_sim/jobs -H 'content-type: application/json' -d '{"flavor":"S"}'
See README.md (Simulators) for what it models and the /_sim control API.`

  static override examples = [
    '<%= config.bin %> sim gitlab --port 8080 --long-poll-ms 50000 --registration-token GR1348941demo --watch-token glpat-watch',
  ]

  static override flags = {
    port: Flags.integer({description: 'port on 127.0.0.1; 0 picks a free one', default: 0, min: 0, max: 65535}),
    'long-poll-ms': Flags.integer({
      description: 'Workhorse long-poll hold of POST /jobs/request (ms); 0 disables',
      default: 0,
      min: 0,
    }),
    'runner-token': Flags.string({description: 'authentication token of the runner (default: a fresh glrt- token)'}),
    'registration-token': Flags.string({description: 'accept this legacy registration token (POST /runners)'}),
    'admin-token': Flags.string({description: 'an administrator personal access token (group custom attributes)'}),
    'watch-token': Flags.string({
      description: 'a personal access token of a Reporter of project 42 with read_api (job-log watch)',
    }),
    'two-phase-commit': Flags.boolean({
      description: 'honour two-phase job commit (--no-two-phase-commit: a GitLab that ignores it)',
      default: true,
      allowNo: true,
    }),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(SimGitLab)
    for (const t of [flags['runner-token'], flags['registration-token'], flags['admin-token'], flags['watch-token']])
      if (t) this.redactor.add(t)
    let server
    try {
      server = await startGitLabSim({
        port: flags.port,
        host: '127.0.0.1',
        longPollMs: flags['long-poll-ms'],
        twoPhaseCommit: flags['two-phase-commit'],
        ...(flags['runner-token'] ? {runnerToken: flags['runner-token']} : {}),
        ...(flags['registration-token'] ? {registrationToken: flags['registration-token']} : {}),
        ...(flags['admin-token'] ? {adminToken: flags['admin-token']} : {}),
        ...(flags['watch-token'] ? {watchToken: flags['watch-token']} : {}),
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

import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {configArg, configFlag, resolveConfigPath} from '../cli/common-flags.js'
import {runStatus} from '../cli/status-report.js'
import type {StatusReport} from '../core/status-schema.js'

export default class Status extends BaseCommand {
  static override description = `Show what the daemon is doing: each runner's jobs (id, project, phase, flavor, weight, age, resource), quota and slots in use, intake state, pending deletions and recent failures.

Asks the running daemon on its control socket (next to the state file), else on listen_address; when no daemon answers, reads the state file and says so.

Exit codes, as systemctl status: 0 when a daemon answered, 3 when none runs.`

  static override args = {
    config: configArg,
  }

  static override flags = {
    config: configFlag,
    json: Flags.boolean({description: 'print the report as JSON (same schema as /status, wrapped with its source)'}),
  }

  // bin/run.cjs answers the plain forms of this command without oclif (src/cli/status-fast-path.ts):
  // what is printed must stay the same on both paths (runStatus).
  async run(): Promise<StatusReport> {
    const {args, flags} = await this.parse(Status)
    const {config} = await this.loadConfig(resolveConfigPath(args.config, flags.config))
    const {code, report} = await runStatus(config, this.redactor, flags.json, (s) => this.log(s))
    if (code !== 0) this.exit(code)
    return report
  }
}

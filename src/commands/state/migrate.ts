import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base-command.js'
import {migrateStateFile, type StateMigration} from '../../cli/state-migrate.js'

export default class StateMigrate extends BaseCommand {
  static override description = `Move the state file of a configuration into PostgreSQL (an upgrade from the file journal to state_url).

Refused while a daemon holds the state file, and when the target schema already holds state. Once every record is committed, the file is moved aside to <state_file>.migrated; then replace state_file with state_url in the configuration.`

  static override examples = [
    '<%= config.bin %> state migrate /etc/heptapod-runner/paas-runner.toml --to postgresql://runner@db.example/heptapod',
  ]

  static override args = {
    config: Args.string({description: 'path of the configuration file', required: true}),
  }

  static override flags = {
    to: Flags.string({description: 'postgresql:// URL of the database', required: true}),
    schema: Flags.string({description: 'schema in that database (default: state_schema of the configuration)'}),
  }

  async run(): Promise<StateMigration> {
    const {args, flags} = await this.parse(StateMigrate)
    this.redactor.add(passwordOf(flags.to))
    if (!/^postgres(ql)?:\/\/\S+$/.test(flags.to))
      this.error('--to must be a PostgreSQL URL such as postgresql://runner@db.example/heptapod', {exit: 2})
    if (flags.schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(flags.schema))
      this.error('--schema must be a lower-case SQL identifier', {exit: 2})
    const loaded = await this.loadConfig(args.config)
    const result = await migrateStateFile(loaded, flags.to, flags.schema ?? loaded.config.stateSchema)
    this.log(
      this.redactor.redact(
        `moved ${result.jobs} job(s), ${result.orphans} orphan mark(s) and ${result.kept} kept resource(s) to ${result.to}; the state file is now ${result.movedTo}. ` +
          'Replace state_file with state_url in the configuration before starting the daemon.',
      ),
    )
    return result
  }
}

function passwordOf(url: string): string | undefined {
  try {
    return decodeURIComponent(new URL(url).password) || undefined
  } catch {
    return undefined
  }
}

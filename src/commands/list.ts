import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {configArg, configFlag, resolveConfigPath} from '../cli/common-flags.js'
import {readRunners, type ListedRunner} from '../cli/runner-admin.js'
import {ConfigError} from '../core/errors.js'

export default class List extends BaseCommand {
  static override description =
    'List the runners of the configuration file: name, executor, URL and short token (as GitLab shows it; never the token), as `gitlab-runner list`'

  static override args = {config: configArg}
  static override flags = {config: configFlag, json: Flags.boolean({description: 'print the runners as JSON'})}

  async run(): Promise<Array<Omit<ListedRunner, 'token'>>> {
    const {args, flags} = await this.parse(List)
    const path = resolveConfigPath(args.config, flags.config)
    const {runners} = await readRunners(path).catch((error: unknown) => {
      throw new ConfigError(path, [
        {
          path: '',
          message: `cannot read it as TOML: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`,
        },
      ])
    })
    const shown = runners.map(({token: _t, ...r}) => r)
    if (flags.json) this.log(JSON.stringify(shown, null, 2))
    else {
      this.log(`Listing configs  config=${path}`)
      for (const r of shown)
        this.log(
          `${(r.name ?? `runners[${r.index}]`).padEnd(20)} Executor=${r.executor ?? '?'} Token=${r.shortToken ?? '?'} URL=${r.url ?? '?'}`,
        )
    }
    return shown
  }
}

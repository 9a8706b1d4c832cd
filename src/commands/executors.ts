import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {discoverExecutors} from '../plugin-api/executors-hook.js'

/** A test double must not pass for a way to run jobs. */
const AUDIENCE_LABEL: Record<string, string> = {testing: ' [test/demo only]', development: ' [development]'}

export default class Executors extends BaseCommand {
  static override description = 'List the installed executors and the plugins that provide them'

  static override flags = {
    json: Flags.boolean({description: 'print as JSON'}),
  }

  async run(): Promise<
    Array<{name: string; description: string; audience: string; plugin: string; pluginType: string}>
  > {
    const {flags} = await this.parse(Executors)
    const d = await discoverExecutors(this.config)
    const rows = [...d.executors.values()].map((e) => ({
      name: e.factory.name,
      description: e.factory.description,
      audience: e.factory.audience ?? 'production',
      plugin: e.plugin,
      pluginType: e.pluginType,
    }))
    if (flags.json) this.log(JSON.stringify({executors: rows, problems: d.problems}, null, 2))
    else {
      for (const r of rows)
        this.log(
          `${r.name.padEnd(16)} ${r.plugin} (${r.pluginType})${AUDIENCE_LABEL[r.audience] ?? ''}\n${''.padEnd(16)} ${r.description}`,
        )
      for (const p of d.problems) this.warn(p)
    }
    return rows
  }
}

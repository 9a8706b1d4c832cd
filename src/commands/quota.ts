import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {configArg, configFlag, resolveConfigPath} from '../cli/common-flags.js'
import {createExecutors, defaultExecutorDeps} from '../app/runtime.js'
import {ConfigError} from '../core/errors.js'
import {silentLogger} from '../core/logger.js'
import {formatWeight} from '../core/quota/flavor-weight.js'
import {buildQuotaReport, type QuotaReport} from '../core/quota/quota-report.js'
import {isFlavorConfigError} from '../core/quota/quota.js'

export default class Quota extends BaseCommand {
  static override description =
    "Show the weighted quota, each flavor's weight and how many jobs of it fit, and configuration that defeats itself"

  static override examples = [
    '<%= config.bin %> quota /etc/heptapod-runner/paas-runner.toml',
    '<%= config.bin %> quota config.toml --json',
  ]

  static override args = {
    config: configArg,
  }

  static override flags = {
    config: configFlag,
    json: Flags.boolean({description: 'print the report as JSON'}),
  }

  async run(): Promise<QuotaReport> {
    const {args, flags} = await this.parse(Quota)
    const loaded = await this.loadConfig(resolveConfigPath(args.config, flags.config))
    const executors = await createExecutors(loaded, () => defaultExecutorDeps(silentLogger, this.redactor))
    let inputs
    try {
      inputs = await Promise.all(
        executors.map(async (e) => ({
          flavors: await e.flavors(),
          minRequestableWeight: await e.minRequestableWeight(),
        })),
      )
    } catch (error) {
      // A max or default flavor the catalogue does not list: the runner can take no job. Exit 2, naming the key.
      if (isFlavorConfigError(error))
        throw new ConfigError(loaded.config.file, [
          {path: error.key, message: error.message.slice(error.key.length + 2)},
        ])
      throw error
    }
    const report = buildQuotaReport(loaded.config, inputs)
    if (flags.json) this.log(JSON.stringify(report, null, 2))
    else this.log(render(report))
    return report
  }
}

function render(r: QuotaReport): string {
  const lines = [
    `Weighted quota: ${formatWeight(r.quota)} (${r.explanation})`,
    `Limits: concurrent = ${r.concurrent} jobs, paas_max_concurrent_provisioning = ${r.maxConcurrentProvisioning}`,
  ]
  for (const runner of r.runners) {
    lines.push(
      '',
      `Runner ${runner.name ? `'${runner.name}'` : `runners[${runner.index}]`} (executor ${runner.executor})`,
    )
    lines.push(
      `  ${'flavor'.padEnd(8)}${'RAM'.padStart(10)}${'CPUs'.padStart(6)}${'weight'.padStart(9)}${'fit alone'.padStart(11)}`,
    )
    for (const f of runner.flavors) {
      const ram = `${(f.ramMiB / 1024).toFixed(f.ramMiB % 1024 ? 1 : 0)} GiB`
      lines.push(
        `  ${f.name.padEnd(8)}${ram.padStart(10)}${String(f.cpus ?? '-').padStart(6)}${formatWeight(f.weight).padStart(9)}${String(f.jobsFitting).padStart(11)}`,
      )
    }
    lines.push(
      `  minimum requestable weight: ${formatWeight(runner.minRequestableWeight)} (intake pauses when less weight is free)`,
    )
  }
  if (r.warnings.length) lines.push('', 'Warnings:', ...r.warnings.map((w) => `  - ${w}`))
  return lines.join('\n')
}

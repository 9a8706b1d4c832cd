import {Flags} from '@oclif/core'

import {makeGitLabClient, newSystemId} from '../adapters/gitlab/make-gitlab-client.js'
import {BaseCommand, EXIT_CONFIG} from '../cli/base-command.js'
import {configArg, configFlag, resolveConfigPath} from '../cli/common-flags.js'
import {daemonSystemId, readRunners, removeFromFile, UnsafeEditError, verifyRunners} from '../cli/runner-admin.js'
import {ConfigError} from '../core/errors.js'

export default class Verify extends BaseCommand {
  static override description = `Check with GitLab that each runner of the configuration file still exists, as \`gitlab-runner verify\`.

With --delete, the sections of runners GitLab no longer knows are removed from the file (every other byte kept). Exit codes: 0 every runner is valid (or was removed with --delete), 1 a runner is not valid or could not be checked.`

  static override args = {config: configArg}
  static override flags = {
    config: configFlag,
    delete: Flags.boolean({description: 'remove the runners GitLab no longer knows from the file'}),
    name: Flags.string({description: 'only this runner'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Verify)
    const path = resolveConfigPath(args.config, flags.config)
    const {text, runners} = await readRunners(path).catch((error: unknown) => {
      throw new ConfigError(path, [
        {
          path: '',
          message: `cannot read it as TOML: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`,
        },
      ])
    })
    for (const r of runners) this.redactor.add(r.token ?? undefined)
    const chosen = flags.name === undefined ? runners : runners.filter((r) => r.name === flags.name)
    if (flags.name !== undefined && chosen.length === 0) {
      this.logToStderr(`error: no runner named '${flags.name}' in ${path}`)
      this.exit(EXIT_CONFIG)
    }
    const coordinator = makeGitLabClient({systemId: await daemonSystemId(path, text, newSystemId)})
    const verdicts = await verifyRunners(chosen, coordinator)
    const gone: number[] = []
    let bad = 0
    for (const r of chosen) {
      const v = verdicts.get(r.index)!
      const label = `${r.name ?? `runners[${r.index}]`} (${r.shortToken ?? '?'}, ${r.url ?? '?'})`
      if (v === 'valid') this.log(`Verifying runner... is valid      ${label}`)
      else if (v === 'removed') {
        this.log(`Verifying runner... is removed    ${label}`)
        gone.push(r.index)
      } else {
        bad++
        this.log(this.redactor.redact(`Verifying runner... cannot be checked   ${label}: ${v.unknown}`))
      }
    }
    if (flags.delete && gone.length > 0) {
      try {
        await removeFromFile(path, text, gone)
      } catch (error) {
        if (error instanceof UnsafeEditError) {
          this.logToStderr(
            `error: cannot remove them from ${path} without changing anything else (${error.message}): edit it by hand`,
          )
          this.exit(1)
        }
        throw error
      }
      this.log(`Removed ${gone.length} runner(s) from ${path}; a running daemon takes it on SIGHUP (systemctl reload).`)
    } else if (gone.length > 0) {
      bad += gone.length
      this.log('Runners GitLab no longer knows stay in the file: add --delete to remove them.')
    }
    if (bad > 0) this.exit(1)
  }
}

import {Flags} from '@oclif/core'

import {makeGitLabClient, newSystemId} from '../adapters/gitlab/make-gitlab-client.js'
import {BaseCommand, EXIT_CONFIG} from '../cli/base-command.js'
import {configArg, configFlag, resolveConfigPath} from '../cli/common-flags.js'
import {daemonSystemId, readRunners, removeFromFile, unregisterRunners, UnsafeEditError} from '../cli/runner-admin.js'
import {ConfigError} from '../core/errors.js'

export default class Unregister extends BaseCommand {
  static override description = `Unregister runners from GitLab and remove their sections from the configuration file (every other byte kept), as \`gitlab-runner unregister\`.

Choose with --name, with --url and --token, or --all-runners. For a runner of a glrt- token (created in GitLab's UI), only this daemon's runner manager is removed in GitLab; the runner itself stays there. A runner GitLab no longer knows is removed from the file too; one whose GitLab cannot be reached stays.`

  static override examples = [
    '<%= config.bin %> unregister -c /etc/heptapod-paas-runner/config.toml --name clever',
    '<%= config.bin %> unregister --all-runners',
  ]

  static override args = {config: configArg}
  static override flags = {
    config: configFlag,
    name: Flags.string({char: 'n', description: 'the runner of this name'}),
    url: Flags.string({char: 'u', description: 'with --token: the runner of this URL and token'}),
    token: Flags.string({char: 't', description: 'with --url: the runner of this URL and token'}),
    'all-runners': Flags.boolean({description: 'every runner of the file'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Unregister)
    this.redactor.add(flags.token)
    const ways = [
      flags.name !== undefined,
      flags.url !== undefined || flags.token !== undefined,
      flags['all-runners'],
    ].filter(Boolean).length
    if (ways !== 1 || (flags.url === undefined) !== (flags.token === undefined)) {
      this.logToStderr('error: choose the runners with one of --name NAME, --url URL --token TOKEN, or --all-runners')
      this.exit(EXIT_CONFIG)
    }
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
    const trim = (u: string | null) => u?.replace(/\/+$/, '')
    const chosen = flags['all-runners']
      ? runners
      : flags.name !== undefined
        ? runners.filter((r) => r.name === flags.name)
        : runners.filter((r) => trim(r.url) === trim(flags.url!) && r.token === flags.token)
    if (chosen.length === 0) {
      this.logToStderr(`error: no such runner in ${path}`)
      this.exit(EXIT_CONFIG)
    }
    const coordinator = makeGitLabClient({systemId: await daemonSystemId(path, text, newSystemId)})
    const outcome = await unregisterRunners(chosen, coordinator)
    const remove: number[] = []
    let kept = 0
    for (const r of chosen) {
      const o = outcome.get(r.index)!
      const label = `${r.name ?? `runners[${r.index}]`} (${r.shortToken ?? '?'})`
      if (o === 'unregistered' || o === 'already-gone') {
        remove.push(r.index)
        this.log(
          `Unregistering runner... ${o === 'unregistered' ? 'succeeded' : 'GitLab no longer knows it'}   ${label}`,
        )
      } else {
        kept++
        this.logToStderr(this.redactor.redact(`error: ${label} stays in the file: ${o.kept}`))
      }
    }
    try {
      await removeFromFile(path, text, remove)
    } catch (error) {
      if (error instanceof UnsafeEditError) {
        this.logToStderr(
          `error: unregistered in GitLab, but cannot remove them from ${path} without changing anything else (${error.message}): edit it by hand`,
        )
        this.exit(1)
      }
      throw error
    }
    if (remove.length)
      this.log(
        `Removed ${remove.length} runner(s) from ${path}; a running daemon takes it on SIGHUP (systemctl reload).`,
      )
    const reference = (await readRunners(path)).text.match(/reference_runner\s*=\s*"([^"]*)"/)?.[1]
    if (reference !== undefined && chosen.some((r) => remove.includes(r.index) && r.name === reference)) {
      this.logToStderr(
        `warning: [quota_computation] reference_runner names '${reference}', which is gone: name another runner there before the next start or reload`,
      )
    }
    if (kept > 0) this.exit(1)
  }
}

import {Args, Flags} from '@oclif/core'

import {makeGitLabClient, newSystemId} from '../adapters/gitlab/make-gitlab-client.js'
import {BaseCommand} from '../cli/base-command.js'
import {inquirerPrompter} from '../cli/inquirer-prompter.js'
import {registerRunner, RegisterError} from '../cli/register.js'
import {parseConfig} from '../core/config/parse-config.js'
import {ConfigError, formatIssue} from '../core/errors.js'
import {discoverExecutors, factoriesByName} from '../plugin-api/executors-hook.js'

export default class Register extends BaseCommand {
  static override description = `Register a runner with GitLab / Heptapod and write its [[runners]] section.

With a glrt- runner authentication token (a runner created in GitLab), the token is verified; with a legacy registration token, a runner is registered. The section is appended to an existing configuration file (its text is kept as is); a new file gets [quota_computation] and state_file defaults, and mode 0600. Nothing is written if GitLab cannot be reached or refuses the token.`

  static override examples = [
    '<%= config.bin %> register',
    '<%= config.bin %> register /etc/heptapod-runner/paas-runner.toml --non-interactive --url https://heptapod.example.com --token glrt-… --name clever --executor clever-docker --set cc_multi_tenant=false --set cc_orga_id=orga_… --set cc_token=…',
  ]

  static override args = {
    config: Args.string({description: 'configuration file to create or append to'}),
  }

  static override flags = {
    url: Flags.string({char: 'c', aliases: ['coordinator-url'], description: 'GitLab / Heptapod instance URL'}),
    token: Flags.string({char: 't', aliases: ['registration-token'], description: 'glrt- authentication token, or legacy registration token'}),
    name: Flags.string({description: 'runner name'}),
    executor: Flags.string({char: 'e', description: 'executor (see `executors`)'}),
    set: Flags.string({multiple: true, description: 'executor setting KEY=VALUE (e.g. cc_orga_id=orga_…), repeatable'}),
    paused: Flags.boolean({description: 'register the runner paused (legacy registration only)'}),
    'max-concurrency': Flags.integer({min: 1, description: 'concurrent, for a new file'}),
    'state-file-path': Flags.string({description: 'state_file, for a new file'}),
    'non-interactive': Flags.boolean({description: 'never prompt: every answer comes from flags'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Register)
    const {default: Conf} = await import('conf')
    const memory = new Conf<{url?: string; configPath?: string}>({cwd: this.config.configDir, configName: 'register'})
    const settings: Record<string, string> = {}
    for (const kv of flags.set ?? []) {
      const i = kv.indexOf('=')
      if (i <= 0) this.error(`--set expects KEY=VALUE, got ${JSON.stringify(kv)}`, {exit: 2})
      settings[kv.slice(0, i)] = kv.slice(i + 1)
      this.redactor.add(kv.slice(i + 1))
    }
    this.redactor.add(flags.token)
    const discovery = await discoverExecutors(this.config)
    const prompter = flags['non-interactive'] ? undefined : await inquirerPrompter()
    try {
      const r = await registerRunner({
        given: {
          ...(args.config ? {configPath: args.config} : {}),
          ...(flags.url ? {url: flags.url} : {}),
          ...(flags.token ? {token: flags.token} : {}),
          ...(flags.name ? {name: flags.name} : {}),
          ...(flags.executor ? {executor: flags.executor} : {}),
          settings,
          paused: flags.paused,
          ...(flags['max-concurrency'] ? {concurrent: flags['max-concurrency']} : {}),
          ...(flags['state-file-path'] ? {stateFile: flags['state-file-path']} : {}),
        },
        ...(prompter ? {prompter} : {}),
        executors: factoriesByName(discovery),
        coordinator: makeGitLabClient({systemId: newSystemId()}),
        remembered: {url: memory.get('url'), configPath: memory.get('configPath')},
        now: Date.now,
      })
      this.redactor.add(r.registration.token)
      memory.set('url', r.url)
      memory.set('configPath', r.configPath)
      this.log(`Runner ${r.registration.id} registered; ${r.created ? 'created' : 'appended to'} ${r.configPath}`)
      try {
        const text = await (await import('node:fs/promises')).readFile(r.configPath, 'utf8')
        const c = parseConfig(text, {file: r.configPath, executors: factoriesByName(discovery), defaultStateFile: 'state.json', redactor: this.redactor})
        for (const w of c.warnings) this.logToStderr(`warning: ${formatIssue(r.configPath, w)}`)
      } catch (error) {
        if (error instanceof ConfigError) this.logToStderr(`warning: the configuration needs completing before \`run\`:\n${this.redactor.redact(error.message)}`)
      }
    } catch (error) {
      if (error instanceof RegisterError) {
        this.logToStderr(this.redactor.redact(`error: ${error.message}`))
        this.exit(1)
      }
      throw error
    }
  }
}

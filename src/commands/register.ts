import {join} from 'node:path'

import {Args, Flags} from '@oclif/core'

import {registerWithServices} from '../app/register.js'
import {BaseCommand, EXIT_CONFIG} from '../cli/base-command.js'
import {configFlag, logLevelFlag, resolveConfigPath} from '../cli/common-flags.js'
import {RegisterError, RegisterUsageError, type RegisterResult} from '../cli/register.js'
import {formatWeight} from '../core/quota/flavor-weight.js'

export default class Register extends BaseCommand {
  static override description = `Register a runner with GitLab / Heptapod and write its [[runners]] section, as \`gitlab-runner register\` does (same flags, same environment variables).

With a runner authentication token (--token glrt-…, a runner created in GitLab) the token is checked at once; with a legacy registration token (--registration-token) a runner is registered. Then the executor and its own questions, and the heaviest flavor a job may ask for: a new file gets a [quota_computation] sized so that it fits; for an existing file, a quota it does not fit in is said loudly, with the fix.

An existing file gets a [[runners]] section appended (its text is kept byte for byte); a new file also gets concurrent, state_file and [quota_computation]. Either ends at mode 0600. Without a terminal, give --non-interactive and every answer as flags. Exit codes: 0 registered, 1 GitLab refused or cannot be reached, 2 a usage error (nothing contacted, nothing written).`

  static override examples = [
    '<%= config.bin %> register',
    '<%= config.bin %> register -c /etc/heptapod-paas-runner/config.toml -n --url https://heptapod.example.com --token glrt-… --name clever --executor clever-docker --max-flavor XL --set cc_multi_tenant=false --set cc_orga_id=orga_… --set cc_token=…',
    'CI_SERVER_URL=https://heptapod.example.com REGISTRATION_TOKEN=GR1348941… RUNNER_EXECUTOR=clever-docker REGISTER_NON_INTERACTIVE=true <%= config.bin %> register --set …',
  ]

  static override args = {
    config: Args.string({description: 'configuration file to create or append to (same as -c)'}),
  }

  static override flags = {
    config: configFlag,
    url: Flags.string({
      char: 'u',
      env: 'CI_SERVER_URL',
      aliases: ['coordinator-url'],
      description: 'GitLab / Heptapod instance URL',
    }),
    token: Flags.string({
      char: 't',
      env: 'CI_SERVER_TOKEN',
      description: 'runner authentication token (glrt-…), checked with GitLab',
    }),
    'registration-token': Flags.string({
      char: 'r',
      env: 'REGISTRATION_TOKEN',
      description: 'legacy registration token: registers a new runner',
    }),
    'non-interactive': Flags.boolean({
      char: 'n',
      env: 'REGISTER_NON_INTERACTIVE',
      description: 'never prompt: every answer comes from flags or environment variables',
    }),
    name: Flags.string({
      env: 'RUNNER_NAME',
      aliases: ['description'],
      description: 'runner name (--description is the same, as in gitlab-runner)',
    }),
    executor: Flags.string({char: 'e', env: 'RUNNER_EXECUTOR', description: 'executor (see `executors`)'}),
    'tag-list': Flags.string({env: 'RUNNER_TAG_LIST', description: 'comma-separated tags (legacy registration only)'}),
    'run-untagged': Flags.boolean({
      env: 'REGISTER_RUN_UNTAGGED',
      description: 'run jobs without tags (legacy registration only)',
    }),
    locked: Flags.boolean({
      env: 'REGISTER_LOCKED',
      allowNo: true,
      description: 'lock the runner to its project (legacy registration only)',
    }),
    paused: Flags.boolean({
      env: 'REGISTER_PAUSED',
      description: 'register the runner paused (legacy registration only)',
    }),
    set: Flags.string({
      multiple: true,
      description:
        'a key of the new [[runners]] section (e.g. cc_orga_id=orga_…, cc_extra_env.FOO=bar), or a global key of a new file; repeatable',
    }),
    'max-flavor': Flags.string({
      description: 'heaviest flavor a job may ask for (asked when not given; default: the heaviest)',
    }),
    'max-flavor-jobs': Flags.integer({
      min: 1,
      max: 10_000,
      description: "a new file's quota: this many jobs of the maximum flavor at once (default 2)",
    }),
    'max-concurrency': Flags.integer({min: 1, description: 'concurrent, for a new file'}),
    'state-file-path': Flags.string({description: 'state_file, for a new file'}),
    'log-level': logLevelFlag({hidden: true}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Register)
    const interactive = !flags['non-interactive']
    if (interactive && !process.stdin.isTTY) {
      this.logToStderr(
        'error: register asks questions and there is no terminal to ask them on: give --non-interactive (-n) and the answers as flags or environment variables (see `register --help`)',
      )
      this.exit(EXIT_CONFIG)
    }
    for (const kv of flags.set ?? []) this.redactor.add(kv.slice(kv.indexOf('=') + 1))
    this.redactor.add(flags.token)
    this.redactor.add(flags['registration-token'])
    const explicit = args.config ?? flags.config
    try {
      const r = await registerWithServices({
        oclif: this.config,
        interactive,
        redactor: this.redactor,
        progress: (line) => this.log(line),
        given: {
          ...(explicit === undefined ? {} : {configPath: resolveConfigPath(args.config, flags.config)}),
          ...(flags.url === undefined ? {} : {url: flags.url}),
          ...(flags.token === undefined ? {} : {token: flags.token}),
          ...(flags['registration-token'] === undefined ? {} : {registrationToken: flags['registration-token']}),
          ...(flags.name === undefined ? {} : {name: flags.name}),
          ...(flags.executor === undefined ? {} : {executor: flags.executor}),
          settings: flags.set ?? [],
          paused: flags.paused,
          ...(flags.locked === undefined ? {} : {locked: flags.locked}),
          ...(flags['run-untagged'] ? {runUntagged: true} : {}),
          ...(flags['tag-list']
            ? {
                tagList: flags['tag-list']
                  .split(',')
                  .map((t) => t.trim())
                  .filter(Boolean),
              }
            : {}),
          ...(flags['max-flavor'] === undefined ? {} : {maxFlavor: flags['max-flavor']}),
          ...(flags['max-flavor-jobs'] === undefined ? {} : {maxFlavorJobs: flags['max-flavor-jobs']}),
          ...(flags['max-concurrency'] === undefined ? {} : {concurrent: flags['max-concurrency']}),
          ...(flags['state-file-path'] === undefined ? {} : {stateFile: flags['state-file-path']}),
        },
      })
      for (const w of r.warnings) this.logToStderr(this.redactor.redact(`\nwarning: ${w}`))
      this.log(closing(r, this.config.bin))
    } catch (error) {
      if (error instanceof RegisterUsageError) {
        this.logToStderr(this.redactor.redact(`error: ${error.message}`))
        this.exit(EXIT_CONFIG)
      }
      if (error instanceof RegisterError) {
        this.logToStderr(this.redactor.redact(`error: ${error.message}`))
        this.exit(1)
      }
      if (error instanceof Error && error.name === 'ExitPromptError') {
        this.logToStderr('interrupted: nothing was written')
        this.exit(130)
      }
      throw error
    }
  }
}

/** What was done, and what to do next. */
function closing(r: RegisterResult, bin: string): string {
  const file = r.configPath
  const lines = [
    '',
    `Runner '${r.name}' (id ${r.registration.id}, short token ${r.shortToken}, executor ${r.executor}) ${r.registered ? 'is registered' : 'is verified'}; ${r.created ? 'created' : 'added to'} ${file} (mode 0600).`,
  ]
  if (r.maxFlavor)
    lines.push(
      `Its jobs may ask for flavors up to ${r.maxFlavor.name} (weight ${formatWeight(r.maxFlavor.weight)})${r.quota ? `; the weighted quota is ${formatWeight(r.quota.total)} (${r.quota.explanation})` : ''}.`,
    )
  if (r.paused) lines.push('It is paused in GitLab: unpause it there when you are ready.')
  lines.push(
    '',
    'Next:',
    `  ${bin} quota ${file}     # the quota, each flavor's weight and how many jobs of it fit`,
    `  ${bin} run ${file}       # take jobs (Ctrl-C stops gracefully)`,
    `  ${bin} status ${file}    # what a running daemon is doing`,
    `As a service: the systemd unit of the README, with ExecStart=${join('/path/to/node_modules/.bin', bin)} run ${file}`,
    'A daemon already running on this file takes the new runner on SIGHUP (systemctl reload).',
  )
  return lines.join('\n')
}

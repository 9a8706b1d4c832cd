import {parseArgs} from 'node:util'

/**
 * The original's `heptapod-paas-runner-register` command line (its §7.2: `CONFIG`, `--name`,
 * `-c/--coordinator-url`, `-t/--registration-token`, `-e/--executor`, `--max-concurrency`,
 * `--state-file-path`, `-l/--logging-level`), translated into `register`'s own flags.
 * The original prompted only for what its flags did not give; without a terminal (a script), it
 * is run non-interactive: what is missing then takes its default or is a usage error naming it.
 * Throws a TypeError with argparse's kind of message on a usage error.
 */
export function translateOriginalRegisterArgs(argv: readonly string[], terminal: boolean): string[] {
  const {values, positionals} = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      name: {type: 'string'},
      'coordinator-url': {type: 'string', short: 'c'},
      'registration-token': {type: 'string', short: 't'},
      executor: {type: 'string', short: 'e'},
      'max-concurrency': {type: 'string'},
      'state-file-path': {type: 'string'},
      'logging-level': {type: 'string', short: 'l'},
      help: {type: 'boolean', short: 'h'},
    },
  })
  if (values.help) return ['register', '--help']
  if (positionals.length !== 1)
    throw new TypeError(
      positionals.length === 0
        ? 'the following arguments are required: config'
        : `unrecognized arguments: ${positionals.slice(1).join(' ')}`,
    )
  const out = ['register', positionals[0]!]
  const pass = (flag: string, v: string | undefined): void => {
    if (v !== undefined) out.push(flag, v)
  }
  pass('--url', values['coordinator-url'])
  pass('--registration-token', values['registration-token'])
  pass('--name', values.name)
  pass('--executor', values.executor)
  pass('--max-concurrency', values['max-concurrency'])
  pass('--state-file-path', values['state-file-path'])
  pass('--log-level', values['logging-level'])
  if (!terminal) out.push('--non-interactive')
  return out
}

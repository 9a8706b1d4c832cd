/**
 * Typed errors of the core. Every error says what happens next: a stable `code`,
 * whether retrying may help, and the job or resource it concerns.
 * Adapters translate vendor errors into these at the edge.
 */
import {PaasRunnerError} from '@heptapod-paas-runner/plugin-api'

export {
  JOB_REJECTED,
  JobRejectedError,
  PaasRunnerError,
  hasCode,
  isCodedError,
  isJobRejected,
  type CodedError,
  type ErrorContext,
} from '@heptapod-paas-runner/plugin-api'

/** One problem found in the configuration, located as precisely as we can. */
export interface ConfigIssue {
  /** Key path such as `runners[1].cc_orga_id`; empty for file-level problems. */
  path: string
  message: string
  /** 1-based line in the config file, when it could be located. */
  line?: number
  column?: number
}

/** A configuration the daemon cannot run with. Commands map it to exit code 2. */
export class ConfigError extends PaasRunnerError {
  readonly file: string
  readonly issues: readonly ConfigIssue[]

  constructor(file: string, issues: readonly ConfigIssue[]) {
    super('config_invalid', formatIssues(file, issues))
    this.file = file
    this.issues = issues
  }
}

/**
 * The daemon cannot start in this setup, for a reason outside the TOML text: its state file is
 * held by another daemon, an address is in use. Commands map it to exit code 2, like ConfigError,
 * and name the config key concerned.
 */
export class StartupError extends PaasRunnerError {
  /** The config key the operator should look at (`state_file`, `listen_address`…). */
  readonly key: string | undefined

  constructor(code: string, message: string, opts: {path?: string; cause?: unknown} = {}) {
    super(code, opts.path ? `${opts.path}: ${message}` : message, opts.cause === undefined ? {} : {cause: opts.cause})
    this.key = opts.path
  }
}

/** `file:line:col: path: message`, one line per issue. */
export function formatIssues(file: string, issues: readonly ConfigIssue[]): string {
  return issues.map((i) => formatIssue(file, i)).join('\n')
}

export function formatIssue(file: string, i: ConfigIssue): string {
  let where = file
  if (i.line !== undefined) where += `:${i.line}` + (i.column === undefined ? '' : `:${i.column}`)
  return `${where}: ${i.path ? `${i.path}: ` : ''}${i.message}`
}

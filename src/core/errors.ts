/**
 * Typed errors of the core. Every error says what happens next: a stable `code`,
 * whether retrying may help, and the job or resource it concerns.
 * Adapters translate vendor errors into these at the edge.
 */
export interface ErrorContext {
  /** GitLab job id the error concerns, if any. */
  jobId?: number
  /** PAAS resource id the error concerns, if any. */
  resourceId?: string
  /** Runner unique name (first 8 chars of its token; never the full token). */
  runner?: string
}

export class PaasRunnerError extends Error {
  readonly code: string
  readonly retryable: boolean
  readonly context: ErrorContext

  constructor(code: string, message: string, opts: {retryable?: boolean; cause?: unknown} & ErrorContext = {}) {
    super(message, opts.cause === undefined ? undefined : {cause: opts.cause})
    this.name = new.target.name
    this.code = code
    this.retryable = opts.retryable ?? false
    const {jobId, resourceId, runner} = opts
    this.context = {
      ...(jobId === undefined ? {} : {jobId}),
      ...(resourceId === undefined ? {} : {resourceId}),
      ...(runner === undefined ? {} : {runner}),
    }
  }
}

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

/**
 * A job this runner cannot run (unknown flavor, missing organisation, bad payload).
 * The job is failed with `message` in its log; the daemon goes on.
 */
export class JobRejectedError extends PaasRunnerError {
  /** Recognised by this flag, not by `instanceof`: a plugin's own copy of this class must count too. */
  readonly rejected = true

  constructor(code: string, message: string, opts: ErrorContext & {cause?: unknown} = {}) {
    super(code, message, {...opts, retryable: false})
  }
}

/** A job this runner cannot run (see JobRejectedError), whichever copy of the class made it. */
export function isJobRejected(e: unknown): e is JobRejectedError {
  return typeof e === 'object' && e !== null && (e as {rejected?: unknown}).rejected === true && typeof (e as {message?: unknown}).message === 'string'
}

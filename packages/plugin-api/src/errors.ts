/**
 * Typed errors shared by the host and its executor plugins. Every error says what happens next:
 * a stable `code`, whether retrying may help, and the job or resource it concerns.
 *
 * A plugin may bundle its own copy of this package, so the host never recognises an error with
 * `instanceof`: it reads the error's fields (`kind`, `code`) through the `is…` functions below.
 */
export interface ErrorContext {
  /** GitLab job id the error concerns, if any. */
  jobId?: number
  /** PAAS resource id the error concerns, if any. */
  resourceId?: string
  /** Runner unique name (its short token; never the full token). */
  runner?: string
}

export class PaasRunnerError extends Error {
  /** Stable identifier of the failure (`unknown_flavor`, `name_taken`…): match on it, never on the message. */
  readonly code: string
  /** Whether another attempt of the same call may succeed. */
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

/** The `kind` every job rejection carries, whichever copy of this package made it. */
export const JOB_REJECTED = 'job_rejected'

/**
 * A job this runner cannot run (unknown flavor, missing organisation, bad payload). The host
 * fails the job with `message` in its log, does not provision anything for it, and goes on.
 * `code` says which rejection it is; `kind` says it is one.
 */
export class JobRejectedError extends PaasRunnerError {
  readonly kind = JOB_REJECTED

  constructor(code: string, message: string, opts: ErrorContext & {cause?: unknown} = {}) {
    super(code, message, {...opts, retryable: false})
  }
}

/** The fields the host reads from any error of this package, whatever its copy. */
export interface CodedError {
  code: string
  message: string
  retryable?: boolean
}

/** An error with a stable string `code` (ours, or any copy of this package's). */
export function isCodedError(e: unknown): e is CodedError {
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof (e as {code?: unknown}).code === 'string' &&
    typeof (e as {message?: unknown}).message === 'string'
  )
}

/** `e` is an error with this `code`. */
export function hasCode(e: unknown, code: string): e is CodedError {
  return isCodedError(e) && e.code === code
}

/**
 * `e` is a job rejection: the job cannot run here and must be failed, not provisioned.
 * Recognised by its `kind` and `code`, never by `instanceof`, so that a rejection thrown by a
 * plugin that bundles its own copy of this package is still one.
 */
export function isJobRejected(e: unknown): e is CodedError & {kind: typeof JOB_REJECTED} {
  return isCodedError(e) && (e as {kind?: unknown}).kind === JOB_REJECTED
}

import {PaasRunnerError} from '../errors.js'

/**
 * Why a coordinator call failed, and so what to do next:
 * - `unavailable`: 5xx, 408 or no answer; retry later with backoff.
 * - `rate_limited`: 429; retry after `retryAfterMs`.
 * - `token_revoked`: the runner token was refused (403 on a runner call); stop polling that runner and alert.
 * - `unexpected`: anything else; the request or the payload is wrong, retrying will not help.
 */
export type CoordinatorErrorKind = 'unavailable' | 'rate_limited' | 'token_revoked' | 'unexpected'

export class CoordinatorError extends PaasRunnerError {
  readonly kind: CoordinatorErrorKind
  /** HTTP status, when there was an answer. */
  readonly status?: number
  /** `METHOD /path` with placeholders, never a token: `POST /jobs/request`, `PUT /jobs/:id`. */
  readonly endpoint: string
  /** When the server said how long to wait. */
  readonly retryAfterMs?: number

  constructor(
    kind: CoordinatorErrorKind,
    endpoint: string,
    message: string,
    opts: {status?: number; retryAfterMs?: number; jobId?: number; runner?: string; cause?: unknown} = {},
  ) {
    super(`coordinator_${kind}`, `${endpoint}: ${message}`, {
      retryable: kind === 'unavailable' || kind === 'rate_limited',
      ...(opts.jobId === undefined ? {} : {jobId: opts.jobId}),
      ...(opts.runner === undefined ? {} : {runner: opts.runner}),
      ...(opts.cause === undefined ? {} : {cause: opts.cause}),
    })
    this.kind = kind
    this.endpoint = endpoint
    if (opts.status !== undefined) this.status = opts.status
    if (opts.retryAfterMs !== undefined) this.retryAfterMs = opts.retryAfterMs
  }
}

/** Shutdown was requested while a call was in flight or waiting to be retried. */
export class AbortedError extends PaasRunnerError {
  constructor(what: string) {
    super('aborted', `${what}: aborted by shutdown`)
  }
}

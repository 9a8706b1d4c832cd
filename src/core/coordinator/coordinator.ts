import type {InnerRunnerInfo} from '@heptapod-paas-runner/plugin-api'

import type {JobPayload} from '../job-payload.js'

/** Which coordinator, with which runner token. */
export interface RunnerEndpoint {
  /** Coordinator base URL, as in the config (`/api/v4` is appended). */
  url: string
  /** Runner authentication token. Secret. */
  token: string
  /** First 8 chars of the token, for messages. */
  uniqueName?: string
}

/** The job handle the coordinator needs: id and job token (secret). */
export interface JobRef {
  id: number
  token: string
}

export type JobRequestResult =
  | {kind: 'job'; job: JobPayload}
  /**
   * GitLab assigned us a job whose payload does not fit its schema. It still has an id and a
   * token, so it can be failed with `problem` in its log; the rest of it is not used.
   */
  | {kind: 'unreadable'; job: JobRef; problem: string}
  | {
      kind: 'none'
      /** Queue-version token to send next time (the old one when the answer had none). */
      lastUpdate?: string
      /** True when the answer came through Workhorse's long polling (`Gitlab-Ci-Builds-Polling: yes`). */
      longPolling: boolean
      /**
       * Workhorse ended a long-poll hold (queue changed, or the hold elapsed) with a bare 204:
       * ask again at once, the answer will come from Rails.
       */
      holdEnded?: boolean
      /** 409: another runner took the candidate job; just ask again later. */
      conflict?: boolean
    }

export interface Registration {
  id: number
  token: string
  tokenExpiresAt: string | null
}

export interface RegisterOptions {
  registrationToken: string
  description: string
  paused?: boolean
  locked?: boolean
  runUntagged?: boolean
  tagList?: string[]
  maximumTimeout?: number
  /** How the new runner's jobs run, as its executor declares it; docker by default. */
  innerRunner?: InnerRunnerInfo
}

/**
 * The port toward GitLab / Heptapod. Every method retries what is worth retrying
 * (408, 429, 5xx, network errors), never hangs, aborts at once when `signal` fires, and
 * throws a CoordinatorError classified as unavailable, rate_limited, token_revoked or unexpected.
 * Tokens travel in headers and bodies, never in URLs, and never appear in errors.
 */
export interface Coordinator {
  /** `POST /jobs/request`. May be held open up to ~50 s by Workhorse long polling. */
  requestJob(runner: RunnerEndpoint, opts: {lastUpdate?: string; signal?: AbortSignal}): Promise<JobRequestResult>

  /**
   * Two-phase commit: `PUT /jobs/:id` state running acknowledges a job GitLab assigned to us.
   * Until then GitLab keeps it pending and re-queues it if we never confirm (we crashed before
   * recording it), so no job is lost. Idempotent. `gone` when the job is no longer ours to run.
   */
  confirmJob(runner: RunnerEndpoint, job: JobRef, opts?: {signal?: AbortSignal}): Promise<'confirmed' | 'gone'>

  /** `GET /job` with the job token: finished when 401 or status success / failed / canceled. */
  jobStatus(
    runner: RunnerEndpoint,
    job: JobRef,
    opts?: {signal?: AbortSignal},
  ): Promise<{finished: boolean; status?: string}>

  /**
   * `PUT /jobs/:id` state failed (default reason `script_failure`, exit code 103).
   * `not-running` when GitLab says the job is no longer running: that counts as done.
   */
  reportFailed(
    runner: RunnerEndpoint,
    job: JobRef,
    opts?: {reason?: string; exitCode?: number; signal?: AbortSignal},
  ): Promise<'reported' | 'not-running'>

  /**
   * `PATCH /jobs/:id/trace`: appends `text` at byte `offset`. Re-syncs once on 416 from the
   * `Range` header. Returns the new offset, or `not-running` (403) when the job no longer takes logs.
   */
  appendLog(
    runner: RunnerEndpoint,
    job: JobRef,
    offset: number,
    text: string,
    opts?: {signal?: AbortSignal},
  ): Promise<{offset: number} | 'not-running'>

  /** `GET /projects/:id/jobs/:job_id/trace` with a private token; '' when not there yet (404). */
  readLog(
    url: string,
    projectId: number,
    jobId: number,
    privateToken: string,
    opts?: {signal?: AbortSignal},
  ): Promise<string>

  /** `GET /groups/:path/custom_attributes` with a private (admin) token. */
  groupAttributes(
    url: string,
    groupPath: string,
    privateToken: string,
    opts?: {signal?: AbortSignal},
  ): Promise<Record<string, string>>

  /** Legacy `POST /runners` with a registration token. */
  register(url: string, opts: RegisterOptions & {signal?: AbortSignal}): Promise<Registration>

  /** `POST /runners/verify` for a `glrt-` authentication token. */
  verify(url: string, token: string, opts?: {signal?: AbortSignal}): Promise<Registration>

  /**
   * `DELETE /runners` (legacy tokens) or `DELETE /runners/managers` (`glrt-` tokens: only this
   * manager). `wholeRunner`: `DELETE /runners` whatever the token (a runner we registered ourselves).
   */
  unregister(url: string, token: string, opts?: {signal?: AbortSignal; wholeRunner?: boolean}): Promise<void>
}

/** Job statuses after which a job will never run again. */
export const FINISHED_JOB_STATUSES: ReadonlySet<string> = new Set(['success', 'failed', 'canceled', 'skipped'])

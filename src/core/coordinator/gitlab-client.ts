import {parseJobPayload} from '../job-payload.js'
import {AbortedError, CoordinatorError} from './coordinator-errors.js'
import type {
  Coordinator,
  JobRef,
  JobRequestResult,
  RegisterOptions,
  Registration,
  RunnerEndpoint,
} from './coordinator.js'
import {FINISHED_JOB_STATUSES} from './coordinator.js'
import {HttpTransportError, type HttpClient, type HttpRequest, type HttpResponse} from './http-port.js'
import {
  DEFAULT_RETRY_POLICY,
  isRetryableStatus,
  retryDelayMs,
  serverRequestedDelayMs,
  type RetryPolicy,
} from './retry.js'
import {RateLimitGate, type RateLimitEpisode} from './rate-limit-gate.js'
import {runnerInfoBody, type RunnerInfo} from './runner-info.js'
import type {InnerRunnerInfo} from '@heptapod-paas-runner/plugin-api'

export interface GitLabClientOptions {
  http: HttpClient
  /** Abortable sleep between retries. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>
  now(): number
  random(): number
  info: RunnerInfo
  /** `r_` + 12 alphanumerics: identifies this daemon as a runner manager. */
  systemId: string
  retry?: RetryPolicy
  /** Response-header timeout of `POST /jobs/request`: above Workhorse's ~50 s hold. */
  longPollTimeoutMs?: number
  /** Response-header timeout of every other call. */
  requestTimeoutMs?: number
  /** Called after every HTTP exchange, for metrics: endpoint pattern and status (or `network`). */
  onExchange?(endpoint: string, outcome: number | 'network'): void
  /** Called once per rate-limit episode of a GitLab instance and endpoint (log line, metric). */
  onRateLimited?(e: RateLimitEpisode): void
  /** How a runner's jobs run, as its executor declares it (`info.executor`, `info.features`); docker by default. */
  innerRunner?(runner: RunnerEndpoint): InnerRunnerInfo | undefined
}

const JSON_HEADERS = {'content-type': 'application/json', accept: 'application/json'}

const MIB = 1024 * 1024
/**
 * Per endpoint: the deadline of one attempt (headers and body together; the job request adds
 * the long-poll hold to it) and the largest answer read. A job payload can be large (variables,
 * dependencies); every other answer is small. The job log is only read to see whether it grew.
 */
const LIMITS: Record<string, {deadlineMs: number; maxBodyBytes: number; truncateBody?: boolean}> = {
  'POST /jobs/request': {deadlineMs: 30_000, maxBodyBytes: 32 * MIB},
  'GET /job': {deadlineMs: 15_000, maxBodyBytes: MIB},
  'GET /projects/:id/jobs/:job_id/trace': {deadlineMs: 30_000, maxBodyBytes: MIB, truncateBody: true},
}
const DEFAULT_LIMITS: {deadlineMs: number; maxBodyBytes: number; truncateBody?: boolean} = {
  deadlineMs: 30_000,
  maxBodyBytes: MIB,
}

/** The GitLab runner API client, over the HttpClient port. See the Coordinator interface. */
export class GitLabClient implements Coordinator {
  private readonly retry: RetryPolicy
  /** Per GitLab instance and endpoint: a 429 holds back every call of that kind, not only its retries. */
  private readonly gate: RateLimitGate

  constructor(private readonly opts: GitLabClientOptions) {
    this.retry = opts.retry ?? DEFAULT_RETRY_POLICY
    this.gate = new RateLimitGate({now: opts.now, sleep: opts.sleep})
  }

  /** The `info` object of a runner's calls, with what its executor declares. */
  private infoFor(runner: RunnerEndpoint): Record<string, unknown> {
    return runnerInfoBody(this.opts.info, this.opts.innerRunner?.(runner))
  }

  /** Until when calls of this endpoint to this GitLab are held back by a rate limit, if they are. */
  rateLimitedUntil(url: string, endpoint: string): number | undefined {
    return this.gate.heldUntil(gateKey(url, endpoint))
  }

  async requestJob(runner: RunnerEndpoint, o: {lastUpdate?: string; signal?: AbortSignal}): Promise<JobRequestResult> {
    const endpoint = 'POST /jobs/request'
    const body = {
      token: runner.token,
      system_id: this.opts.systemId,
      info: this.infoFor(runner),
      ...(o.lastUpdate ? {last_update: o.lastUpdate} : {}),
    }
    const res = await this.call(
      endpoint,
      {
        method: 'POST',
        url: api(runner.url, '/jobs/request'),
        headers: {...JSON_HEADERS, 'runner-token': runner.token},
        body: JSON.stringify(body),
        headersTimeoutMs: this.opts.longPollTimeoutMs ?? 90_000,
      },
      o.signal,
      runner,
    )
    const longPolling = res.headers['gitlab-ci-builds-polling'] === 'yes'
    switch (res.status) {
      case 201: {
        const parsed = (res.headers['content-type'] ?? '').includes('application/json')
          ? parseJobPayload(parseJson<unknown>(res.body))
          : {ok: false as const, problem: 'not JSON'}
        if (parsed.ok) return {kind: 'job', job: parsed.job}
        // With an id and a token, the job can still be failed with the reason; without, GitLab times it out.
        if (parsed.ref) return {kind: 'unreadable', job: parsed.ref, problem: parsed.problem}
        throw new CoordinatorError(
          'unexpected',
          endpoint,
          `201 with a job payload that cannot be decoded (${describeBody(res)}: ${parsed.problem}); the job is lost on our side and GitLab will time it out`,
          {status: 201, ...who(runner)},
        )
      }
      case 204: {
        const header = res.headers['x-gitlab-last-update']
        const lastUpdate = header || o.lastUpdate
        return {
          kind: 'none',
          longPolling,
          ...(longPolling && !header ? {holdEnded: true} : {}),
          ...(lastUpdate ? {lastUpdate} : {}),
        }
      }
      case 409:
        return {kind: 'none', longPolling, conflict: true, ...(o.lastUpdate ? {lastUpdate: o.lastUpdate} : {})}
      case 403:
        throw new CoordinatorError(
          'token_revoked',
          endpoint,
          `403: the runner token is unknown, expired or revoked (${gitlabMessage(res)})`,
          {status: 403, ...who(runner)},
        )
      case 422:
        throw new CoordinatorError(
          'token_revoked',
          endpoint,
          `422: ${gitlabMessage(res)}; the runner cannot take jobs (orphaned runner?)`,
          {status: 422, ...who(runner)},
        )
      default:
        throw this.failure(endpoint, res, runner)
    }
  }

  async confirmJob(runner: RunnerEndpoint, job: JobRef, o: {signal?: AbortSignal} = {}): Promise<'confirmed' | 'gone'> {
    const endpoint = 'PUT /jobs/:id'
    const res = await this.call(
      endpoint,
      {
        method: 'PUT',
        url: api(runner.url, `/jobs/${job.id}`),
        headers: {...JSON_HEADERS, 'job-token': job.token},
        body: JSON.stringify({token: job.token, state: 'running', info: this.infoFor(runner)}),
      },
      o.signal,
      runner,
      job.id,
    )
    if (res.status === 200 || res.status === 202) {
      const status = res.headers['job-status']
      return status === 'canceled' || status === 'failed' || status === 'success' ? 'gone' : 'confirmed'
    }
    // 403: not ours any more (re-queued after our crash, canceled…); 404: gone; 409: bound to another manager.
    if (res.status === 403 || res.status === 404 || res.status === 409) return 'gone'
    throw this.failure(endpoint, res, runner, job.id)
  }

  async jobStatus(
    runner: RunnerEndpoint,
    job: JobRef,
    o: {signal?: AbortSignal} = {},
  ): Promise<{finished: boolean; status?: string}> {
    const endpoint = 'GET /job'
    const res = await this.call(
      endpoint,
      {method: 'GET', url: api(runner.url, '/job'), headers: {accept: 'application/json', 'job-token': job.token}},
      o.signal,
      runner,
      job.id,
    )
    // Job tokens are only valid while the job runs: 401 means it is over. How it ended, GitLab says
    // only in the Job-Status header of a refused job update (as gitlab-runner learns of a cancel).
    if (res.status === 401) return {finished: true, ...(await this.endedAs(runner, job, o.signal))}
    if (res.status === 200) {
      const status = parseJson<{status?: unknown}>(res.body)?.status
      if (typeof status !== 'string') {
        throw new CoordinatorError('unexpected', endpoint, `200 without a job status (${describeBody(res)})`, {
          status: 200,
          jobId: job.id,
          ...who(runner),
        })
      }
      return {finished: FINISHED_JOB_STATUSES.has(status), status}
    }
    throw this.failure(endpoint, res, runner, job.id)
  }

  /** `PUT /jobs/:id` without a state, on a job that is over: 403 with its final status, or nothing learnt. */
  private async endedAs(
    runner: RunnerEndpoint,
    job: JobRef,
    signal: AbortSignal | undefined,
  ): Promise<{status?: string}> {
    try {
      const res = await this.opts.http.request({
        method: 'PUT',
        url: api(runner.url, `/jobs/${job.id}`),
        headers: {...JSON_HEADERS, 'job-token': job.token},
        body: JSON.stringify({token: job.token}),
        ...(signal ? {signal} : {}),
      })
      const status = res.headers['job-status']
      return res.status === 403 && status && FINISHED_JOB_STATUSES.has(status) ? {status} : {}
    } catch {
      return {}
    }
  }

  async reportFailed(
    runner: RunnerEndpoint,
    job: JobRef,
    o: {reason?: string; exitCode?: number; signal?: AbortSignal} = {},
  ): Promise<'reported' | 'not-running'> {
    const endpoint = 'PUT /jobs/:id'
    const res = await this.call(
      endpoint,
      {
        method: 'PUT',
        url: api(runner.url, `/jobs/${job.id}`),
        headers: {...JSON_HEADERS, 'job-token': job.token},
        body: JSON.stringify({
          token: job.token,
          state: 'failed',
          failure_reason: o.reason ?? 'script_failure',
          exit_code: o.exitCode ?? 103,
          info: this.infoFor(runner),
        }),
      },
      o.signal,
      runner,
      job.id,
    )
    if (res.status === 200 || res.status === 202) return 'reported'
    if (res.status === 403 && jobNotRunning(res)) return 'not-running'
    throw this.failure(endpoint, res, runner, job.id)
  }

  async appendLog(
    runner: RunnerEndpoint,
    job: JobRef,
    offset: number,
    text: string,
    o: {signal?: AbortSignal} = {},
  ): Promise<{offset: number} | 'not-running'> {
    const endpoint = 'PATCH /jobs/:id/trace'
    const bytes = new TextEncoder().encode(text)
    if (bytes.length === 0) return {offset}
    let start = offset
    // One re-sync on 416: GitLab tells us where the log really ends, we append from there.
    for (let round = 0; round < 2; round++) {
      const res = await this.call(
        endpoint,
        {
          method: 'PATCH',
          url: api(runner.url, `/jobs/${job.id}/trace`),
          // Content-Range end is inclusive; GitLab only trusts the start.
          headers: {
            'content-type': 'text/plain',
            'job-token': job.token,
            'content-range': `${start}-${start + bytes.length - 1}`,
          },
          body: bytes,
        },
        o.signal,
        runner,
        job.id,
      )
      if (res.status === 202 || res.status === 200) {
        const end = rangeEnd(res.headers.range)
        return {offset: end ?? start + bytes.length}
      }
      if (res.status === 403) return 'not-running'
      if (res.status === 416 && round === 0) {
        const end = rangeEnd(res.headers.range)
        if (end !== undefined) {
          start = end
          continue
        }
      }
      throw this.failure(endpoint, res, runner, job.id)
    }
    throw new CoordinatorError('unexpected', endpoint, '416 again after re-syncing the log offset', {
      status: 416,
      jobId: job.id,
      ...who(runner),
    })
  }

  async readLog(
    url: string,
    projectId: number,
    jobId: number,
    privateToken: string,
    o: {signal?: AbortSignal} = {},
  ): Promise<string> {
    const endpoint = 'GET /projects/:id/jobs/:job_id/trace'
    const res = await this.call(
      endpoint,
      {
        method: 'GET',
        url: api(url, `/projects/${projectId}/jobs/${jobId}/trace`),
        headers: {'private-token': privateToken},
      },
      o.signal,
      undefined,
      jobId,
    )
    if (res.status === 200) return res.body
    // GitLab answers 200 with an empty body while a job has no log yet; 404 means the token's user
    // does not see the project (not a member) or the job: every watch with this token would fail.
    if (res.status === 401 || res.status === 403 || res.status === 404) {
      throw new CoordinatorError(
        'unexpected',
        endpoint,
        `${res.status}: the job-log watch token cannot read this job's log (its user must be a member of project ${projectId}, Reporter or more, with the read_api scope) (${gitlabMessage(res)})`,
        {status: res.status, jobId},
      )
    }
    throw this.failure(endpoint, res, undefined, jobId)
  }

  async groupAttributes(
    url: string,
    groupPath: string,
    privateToken: string,
    o: {signal?: AbortSignal} = {},
  ): Promise<Record<string, string>> {
    const endpoint = 'GET /groups/:id/custom_attributes'
    const res = await this.call(
      endpoint,
      {
        method: 'GET',
        url: api(url, `/groups/${encodeURIComponent(groupPath)}/custom_attributes`),
        headers: {accept: 'application/json', 'private-token': privateToken},
      },
      o.signal,
    )
    if (res.status === 200) {
      const list = parseJson<unknown>(res.body)
      if (!Array.isArray(list))
        throw new CoordinatorError('unexpected', endpoint, `200 but not a list of attributes (${describeBody(res)})`, {
          status: 200,
        })
      const out: Record<string, string> = {}
      for (const a of list) {
        if (a && typeof a === 'object' && typeof (a as {key?: unknown}).key === 'string')
          out[(a as {key: string}).key] = String((a as {value?: unknown}).value ?? '')
      }
      return out
    }
    if (res.status === 404)
      throw new CoordinatorError('unexpected', endpoint, `404: group '${groupPath}' not found`, {status: 404})
    if (res.status === 401 || res.status === 403) {
      throw new CoordinatorError(
        'unexpected',
        endpoint,
        `${res.status}: the attributes token cannot read custom attributes (an administrator token is needed)`,
        {status: res.status},
      )
    }
    throw this.failure(endpoint, res)
  }

  async register(url: string, o: RegisterOptions & {signal?: AbortSignal}): Promise<Registration> {
    const endpoint = 'POST /runners'
    const res = await this.call(
      endpoint,
      {
        method: 'POST',
        url: api(url, '/runners'),
        headers: {...JSON_HEADERS, 'runner-token': o.registrationToken},
        body: JSON.stringify({
          token: o.registrationToken,
          description: o.description,
          info: {...runnerInfoBody(this.opts.info, o.innerRunner), name: this.opts.info.name},
          paused: o.paused ?? false,
          locked: o.locked ?? false,
          run_untagged: o.runUntagged ?? (o.tagList === undefined || o.tagList.length === 0),
          ...(o.tagList?.length ? {tag_list: o.tagList.join(',')} : {}),
          ...(o.maximumTimeout === undefined ? {} : {maximum_timeout: o.maximumTimeout}),
        }),
      },
      o.signal,
    )
    if (res.status === 201) return parseRegistration(endpoint, res)
    if (res.status === 403)
      throw new CoordinatorError('token_revoked', endpoint, 'the registration token was refused (403)', {status: 403})
    if (res.status === 410) {
      throw new CoordinatorError(
        'unexpected',
        endpoint,
        'registration tokens are disabled on this instance (410): create the runner in GitLab and register with its glrt- authentication token',
        {status: 410},
      )
    }
    throw this.failure(endpoint, res)
  }

  async verify(url: string, token: string, o: {signal?: AbortSignal} = {}): Promise<Registration> {
    const endpoint = 'POST /runners/verify'
    const res = await this.call(
      endpoint,
      {
        method: 'POST',
        url: api(url, '/runners/verify'),
        headers: {...JSON_HEADERS, 'runner-token': token},
        body: JSON.stringify({token, system_id: this.opts.systemId, info: runnerInfoBody(this.opts.info)}),
      },
      o.signal,
    )
    if (res.status === 200 || res.status === 201) return parseRegistration(endpoint, res, token)
    if (res.status === 403)
      throw new CoordinatorError(
        'token_revoked',
        endpoint,
        'the runner authentication token is unknown, expired or revoked (403)',
        {status: 403},
      )
    if (res.status === 422)
      throw new CoordinatorError('token_revoked', endpoint, `422: ${gitlabMessage(res)}`, {status: 422})
    throw this.failure(endpoint, res)
  }

  async unregister(url: string, token: string, o: {signal?: AbortSignal; wholeRunner?: boolean} = {}): Promise<void> {
    const managers = token.startsWith('glrt-') && !o.wholeRunner
    const endpoint = managers ? 'DELETE /runners/managers' : 'DELETE /runners'
    const res = await this.call(
      endpoint,
      {
        method: 'DELETE',
        url: api(url, managers ? '/runners/managers' : '/runners'),
        headers: {...JSON_HEADERS, 'runner-token': token},
        body: JSON.stringify(managers ? {token, system_id: this.opts.systemId} : {token}),
      },
      o.signal,
    )
    if (res.status === 204 || res.status === 200) return
    if (res.status === 403)
      throw new CoordinatorError('token_revoked', endpoint, 'the runner token is unknown or revoked (403)', {
        status: 403,
      })
    throw this.failure(endpoint, res)
  }

  /**
   * One logical call: retries network errors and retryable statuses with backoff, honouring
   * Retry-After / RateLimit-ResetTime, and stops at once on abort. Returns the last response.
   */
  private async call(
    endpoint: string,
    req: HttpRequest,
    signal: AbortSignal | undefined,
    runner?: RunnerEndpoint,
    jobId?: number,
  ): Promise<HttpResponse> {
    const limits = LIMITS[endpoint] ?? DEFAULT_LIMITS
    const headersTimeoutMs = req.headersTimeoutMs ?? this.opts.requestTimeoutMs ?? 30_000
    const request: HttpRequest = {
      ...req,
      headers: {
        'user-agent': `heptapod-paas-runner ${this.opts.info.version} (${this.opts.info.platform}/${this.opts.info.architecture})`,
        ...req.headers,
      },
      ...(signal ? {signal} : {}),
      headersTimeoutMs,
      bodyTimeoutMs: req.bodyTimeoutMs ?? 30_000,
      // A long poll may hold the headers back; the deadline covers that hold plus the answer.
      deadlineMs: endpoint === 'POST /jobs/request' ? headersTimeoutMs + limits.deadlineMs : limits.deadlineMs,
      maxBodyBytes: limits.maxBodyBytes,
      ...(limits.truncateBody ? {truncateBody: true} : {}),
    }
    const key = gateKey(req.url, endpoint)
    for (let attempt = 1; ; attempt++) {
      try {
        await this.gate.pass(key, signal)
      } catch {
        throw new AbortedError(endpoint)
      }
      if (signal?.aborted) throw new AbortedError(endpoint)
      let res: HttpResponse | undefined
      let transport: HttpTransportError | undefined
      try {
        res = await this.opts.http.request(request)
        this.opts.onExchange?.(endpoint, res.status)
      } catch (error) {
        if (signal?.aborted) throw new AbortedError(endpoint)
        if (!(error instanceof HttpTransportError)) throw error
        this.opts.onExchange?.(endpoint, 'network')
        transport = error
      }
      const retryable = transport !== undefined ? transport.retryable : isRetryableStatus(res!.status)
      if (!retryable && res) return res
      const delay = retryDelayMs(attempt, this.retry, this.opts.random, res, this.opts.now())
      // The server said to slow down: every call of this kind waits, not only this one.
      if (
        res &&
        (res.status === 429 ||
          (res.status === 503 && serverRequestedDelayMs(res.headers, this.opts.now()) !== undefined))
      ) {
        const episode = this.gate.close(key, delay)
        if (episode) this.opts.onRateLimited?.(episode)
      }
      if (!retryable || attempt >= this.retry.maxAttempts) {
        if (res) return res
        throw new CoordinatorError(
          'unavailable',
          endpoint,
          `${attempt === 1 ? 'no usable answer' : `no answer after ${attempt} attempts`}: ${transport!.message}`,
          {
            ...(jobId === undefined ? {} : {jobId}),
            ...who(runner),
            cause: transport,
          },
        )
      }
      try {
        await this.opts.sleep(delay, signal)
      } catch {
        throw new AbortedError(endpoint)
      }
    }
  }

  /** The error for a final non-success answer. */
  private failure(endpoint: string, res: HttpResponse, runner?: RunnerEndpoint, jobId?: number): CoordinatorError {
    const ctx = {status: res.status, ...(jobId === undefined ? {} : {jobId}), ...who(runner)}
    if (res.status === 429) {
      const retryAfterMs = serverRequestedDelayMs(res.headers, this.opts.now())
      return new CoordinatorError('rate_limited', endpoint, `429 rate limited (${gitlabMessage(res)})`, {
        ...ctx,
        ...(retryAfterMs === undefined ? {} : {retryAfterMs}),
      })
    }
    if (isRetryableStatus(res.status)) {
      return new CoordinatorError(
        'unavailable',
        endpoint,
        `${res.status} after ${this.retry.maxAttempts} attempts (${describeBody(res)})`,
        ctx,
      )
    }
    return new CoordinatorError('unexpected', endpoint, `unexpected ${res.status} (${gitlabMessage(res)})`, ctx)
  }
}

/** `<url>/api/v4<path>`, the way gitlab-runner builds it (trailing `/` and `/ci` stripped). */
export function api(baseUrl: string, path: string): string {
  return `${baseUrl.replace(/\/+$/, '').replace(/\/ci$/, '')}/api/v4${path}`
}

/** The gate of one endpoint of one GitLab instance (its origin: scheme, host and port). */
function gateKey(url: string, endpoint: string): string {
  let origin = url
  try {
    origin = new URL(url).origin
  } catch {
    // keep the URL itself: it still names one remote
  }
  return `${origin} ${endpoint}`
}

function who(runner?: RunnerEndpoint): {runner?: string} {
  return runner?.uniqueName ? {runner: runner.uniqueName} : {}
}

function parseJson<T>(text: string): T | undefined {
  try {
    return JSON.parse(text) as T
  } catch {
    return undefined
  }
}

function parseRegistration(endpoint: string, res: HttpResponse, fallbackToken?: string): Registration {
  const r = parseJson<{id?: unknown; token?: unknown; token_expires_at?: unknown}>(res.body)
  const token = typeof r?.token === 'string' ? r.token : fallbackToken
  if (!r || typeof r.id !== 'number' || !token) {
    throw new CoordinatorError(
      'unexpected',
      endpoint,
      `${res.status} without a runner id and token (${describeBody(res)})`,
      {status: res.status},
    )
  }
  return {id: r.id, token, tokenExpiresAt: typeof r.token_expires_at === 'string' ? r.token_expires_at : null}
}

/** GitLab's `{"message": …}` or Grape's `{"error": …}`, shortened; never the raw body of a non-JSON page. */
export function gitlabMessage(res: HttpResponse): string {
  const j = parseJson<{message?: unknown; error?: unknown}>(res.body)
  const m = j && typeof j === 'object' ? (j.message ?? j.error) : undefined
  if (m === undefined) return describeBody(res)
  return (typeof m === 'string' ? m : JSON.stringify(m)).slice(0, 200)
}

function describeBody(res: HttpResponse): string {
  if (res.body.length === 0) return 'empty body'
  const type = res.headers['content-type'] ?? 'no content type'
  return `${res.body.length} bytes of ${type.split(';')[0]}`
}

/** 403 on a job-token call because the job is over (any wording GitLab used over the years). */
function jobNotRunning(res: HttpResponse): boolean {
  const status = res.headers['job-status']
  if (status && status !== 'running' && status !== 'canceling') return true
  return /job is not (running|processing)/i.test(gitlabMessage(res))
}

function rangeEnd(range: string | undefined): number | undefined {
  const m = range ? /-(\d+)\s*$/.exec(range) : null
  return m ? Number(m[1]) : undefined
}

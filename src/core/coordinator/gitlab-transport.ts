import {AbortedError, CoordinatorError} from './coordinator-errors.js'
import type {RunnerEndpoint} from './coordinator.js'
import {HttpTransportError, type HttpClient, type HttpRequest, type HttpResponse} from './http-port.js'
import {
  DEFAULT_RETRY_POLICY,
  isRetryableStatus,
  retryDelayMs,
  serverRequestedDelayMs,
  type RetryPolicy,
} from './retry.js'
import {RateLimitGate, type RateLimitEpisode} from './rate-limit-gate.js'
import type {RunnerInfo} from './runner-info.js'

/** What every call to GitLab goes through: retries, rate-limit gates, deadlines and size caps. */
export interface GitLabTransportOptions {
  http: HttpClient
  /** Abortable sleep between retries. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>
  now(): number
  random(): number
  info: RunnerInfo
  retry?: RetryPolicy
  /** Response-header timeout of every call but the job request's long poll. */
  requestTimeoutMs?: number
  /** Called after every HTTP exchange, for metrics: endpoint pattern and status (or `network`). */
  onExchange?(endpoint: string, outcome: number | 'network'): void
  /** Called once per rate-limit episode of a GitLab instance and endpoint (log line, metric). */
  onRateLimited?(e: RateLimitEpisode): void
}

export const JSON_HEADERS = {'content-type': 'application/json', accept: 'application/json'}

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

/** The HTTP side of the GitLab client: one logical call, its retries, and the error of a final answer. */
export class GitLabTransport {
  private readonly retry: RetryPolicy
  /** Per GitLab instance and endpoint: a 429 holds back every call of that kind, not only its retries. */
  private readonly gate: RateLimitGate

  constructor(private readonly opts: GitLabTransportOptions) {
    this.retry = opts.retry ?? DEFAULT_RETRY_POLICY
    this.gate = new RateLimitGate({now: opts.now, sleep: opts.sleep})
  }

  /** Until when calls of this endpoint to this GitLab are held back by a rate limit, if they are. */
  rateLimitedUntil(url: string, endpoint: string): number | undefined {
    return this.gate.heldUntil(gateKey(url, endpoint))
  }

  /**
   * One logical call: retries network errors and retryable statuses with backoff, honouring
   * Retry-After / RateLimit-ResetTime, and stops at once on abort. Returns the last response.
   */
  async call(
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
  failure(endpoint: string, res: HttpResponse, runner?: RunnerEndpoint, jobId?: number): CoordinatorError {
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

export function who(runner?: RunnerEndpoint): {runner?: string} {
  return runner?.uniqueName ? {runner: runner.uniqueName} : {}
}

export function parseJson<T>(text: string): T | undefined {
  try {
    return JSON.parse(text) as T
  } catch {
    return undefined
  }
}

/** GitLab's `{"message": …}` or Grape's `{"error": …}`, shortened; never the raw body of a non-JSON page. */
export function gitlabMessage(res: HttpResponse): string {
  const j = parseJson<{message?: unknown; error?: unknown}>(res.body)
  const m = j && typeof j === 'object' ? (j.message ?? j.error) : undefined
  if (m === undefined) return describeBody(res)
  return (typeof m === 'string' ? m : JSON.stringify(m)).slice(0, 200)
}

export function describeBody(res: HttpResponse): string {
  if (res.body.length === 0) return 'empty body'
  const type = res.headers['content-type'] ?? 'no content type'
  return `${res.body.length} bytes of ${type.split(';')[0]}`
}

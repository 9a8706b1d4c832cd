import type {HttpResponse} from './http-port.js'

/** Statuses worth another attempt: timeouts, rate limits, server errors. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599)
}

export interface RetryPolicy {
  /** Attempts in total, the first included. gitlab-runner uses 5. */
  maxAttempts: number
  /** First backoff, ms. */
  baseDelayMs: number
  /** Growth factor per attempt. */
  factor: number
  /** Cap of one wait, ms. */
  maxDelayMs: number
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {maxAttempts: 5, baseDelayMs: 100, factor: 2, maxDelayMs: 60_000}

/**
 * How long the server asked us to wait, in ms: `RateLimit-ResetTime` (an HTTP date) first,
 * then `Retry-After` (seconds or an HTTP date). Undefined when it did not say.
 */
export function serverRequestedDelayMs(headers: Record<string, string>, nowMs: number): number | undefined {
  const reset = headers['ratelimit-resettime']
  if (reset) {
    const t = Date.parse(reset)
    if (Number.isFinite(t)) return Math.max(0, t - nowMs)
  }
  const ra = headers['retry-after']
  if (ra) {
    if (/^\d+$/.test(ra.trim())) return Number(ra.trim()) * 1000
    const t = Date.parse(ra)
    if (Number.isFinite(t)) return Math.max(0, t - nowMs)
  }
  return undefined
}

/**
 * Wait before attempt `attempt + 1` (attempt counts from 1): what the server asked for,
 * else exponential backoff with full jitter in [d/2, d], capped.
 */
export function retryDelayMs(
  attempt: number,
  policy: RetryPolicy,
  random: () => number,
  response?: HttpResponse,
  nowMs = 0,
): number {
  const asked = response ? serverRequestedDelayMs(response.headers, nowMs) : undefined
  if (asked !== undefined) return Math.min(asked, policy.maxDelayMs * 10)
  return backoffDelayMs(attempt, {baseMs: policy.baseDelayMs, maxMs: policy.maxDelayMs, factor: policy.factor}, random)
}

/**
 * The one backoff of the daemon and its executors: exponential, capped, with half jitter (a wait
 * in [d/2, d]), so that many clients retrying at once spread out, and none waits less than half
 * the step. `attempt` counts from 1.
 */
export function backoffDelayMs(
  attempt: number,
  o: {baseMs: number; maxMs: number; factor?: number},
  random: () => number,
): number {
  const d = Math.min(o.maxMs, o.baseMs * (o.factor ?? 2) ** (attempt - 1))
  return d / 2 + random() * (d / 2)
}

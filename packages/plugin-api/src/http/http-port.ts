/**
 * The HTTP port executors (and the host's coordinator client) use. The undici adapter
 * implements it; tests use fakes. Every request has timeouts and an abort signal.
 */
export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  url: string
  headers?: Record<string, string>
  body?: string | Uint8Array
  signal?: AbortSignal
  /** Max ms to establish the connection. */
  connectTimeoutMs?: number
  /** Max ms to wait for the response headers (must exceed a long-poll hold). */
  headersTimeoutMs?: number
  /** Max ms between two chunks of the body. */
  bodyTimeoutMs?: number
  /**
   * Max ms for the whole exchange, headers and body together: a server that sends one byte
   * now and then never holds the caller longer. Default: headers and body timeouts added up.
   */
  deadlineMs?: number
  /** Largest body read, in bytes; beyond it the request fails with `too_large` (default 64 MiB). */
  maxBodyBytes?: number
  /** Beyond `maxBodyBytes`, keep the first bytes (`truncated` set) instead of failing. */
  truncateBody?: boolean
}

export interface HttpResponse {
  status: number
  /** Lower-cased header names. */
  headers: Record<string, string>
  body: string
  /** The body was cut at `maxBodyBytes` (only with `truncateBody`). */
  truncated?: boolean
}

export interface HttpClient {
  /**
   * Sends one request. Resolves with any HTTP status; rejects with an HttpTransportError on
   * network failures and timeouts, or with the signal's reason when aborted.
   */
  request(req: HttpRequest): Promise<HttpResponse>
}

/**
 * Connection refused or reset, DNS failure, timeout: no usable HTTP answer at all. `deadline`
 * (the whole exchange took too long) and `too_large` (the answer exceeded its cap) are final:
 * the server has had its chance, retrying at once would not help.
 */
export class HttpTransportError extends Error {
  readonly code: string

  constructor(code: string, message: string, opts?: {cause?: unknown}) {
    super(message, opts)
    this.name = 'HttpTransportError'
    this.code = code
  }

  /** Worth another attempt of the same call. */
  get retryable(): boolean {
    return this.code !== 'deadline' && this.code !== 'too_large'
  }
}

/** `e` is a transport failure (no usable HTTP answer), from any copy of this package. */
export function isHttpTransportError(e: unknown): e is HttpTransportError {
  return (
    typeof e === 'object' &&
    e !== null &&
    (e as {name?: unknown}).name === 'HttpTransportError' &&
    typeof (e as {code?: unknown}).code === 'string'
  )
}

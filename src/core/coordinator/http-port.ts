/**
 * The HTTP port the coordinator client (and the Clever client) use. The undici adapter
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
}

export interface HttpResponse {
  status: number
  /** Lower-cased header names. */
  headers: Record<string, string>
  body: string
}

export interface HttpClient {
  /**
   * Sends one request. Resolves with any HTTP status; rejects with an HttpTransportError on
   * network failures and timeouts, or with the signal's reason when aborted.
   */
  request(req: HttpRequest): Promise<HttpResponse>
}

/** Connection refused or reset, DNS failure, timeout: no HTTP answer at all. */
export class HttpTransportError extends Error {
  readonly code: string

  constructor(code: string, message: string, opts?: {cause?: unknown}) {
    super(message, opts)
    this.name = 'HttpTransportError'
    this.code = code
  }
}

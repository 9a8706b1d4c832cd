import {Agent, errors, request} from 'undici'

import {HttpTransportError, type HttpClient, type HttpRequest, type HttpResponse} from '../../core/coordinator/http-port.js'

/** Defaults: generous enough for a 50 s long poll, short enough that nothing hangs forever. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000
export const DEFAULT_HEADERS_TIMEOUT_MS = 30_000
export const DEFAULT_BODY_TIMEOUT_MS = 30_000

/** HttpClient over undici, with a keep-alive connection pool. */
export class UndiciHttpClient implements HttpClient {
  private readonly agent: Agent

  /** `socketPath`: talk HTTP over a unix socket (the Docker engine), whatever the URL's host. */
  constructor(opts: {connectTimeoutMs?: number; socketPath?: string} = {}) {
    this.agent = new Agent({
      connect: {timeout: opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, ...(opts.socketPath ? {socketPath: opts.socketPath} : {})},
      keepAliveTimeout: 30_000,
      // Per-request values below win; these are upper bounds for the pool.
      headersTimeout: 0,
      bodyTimeout: 0,
    })
  }

  async request(req: HttpRequest): Promise<HttpResponse> {
    req.signal?.throwIfAborted()
    try {
      const res = await request(req.url, {
        method: req.method,
        headers: req.headers ?? {},
        ...(req.body === undefined ? {} : {body: req.body}),
        ...(req.signal ? {signal: req.signal} : {}),
        dispatcher: this.agent,
        headersTimeout: req.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS,
        bodyTimeout: req.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS,
      })
      const body = await res.body.text()
      const headers: Record<string, string> = {}
      for (const [k, v] of Object.entries(res.headers)) {
        if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v
      }
      return {status: res.statusCode, headers, body}
    } catch (error) {
      if (req.signal?.aborted) throw req.signal.reason
      throw toTransportError(error)
    }
  }

  async close(): Promise<void> {
    await this.agent.close()
  }
}

function toTransportError(error: unknown): HttpTransportError {
  if (error instanceof errors.HeadersTimeoutError) return new HttpTransportError('headers_timeout', 'no response headers in time', {cause: error})
  if (error instanceof errors.BodyTimeoutError) return new HttpTransportError('body_timeout', 'response body stalled', {cause: error})
  if (error instanceof errors.ConnectTimeoutError) return new HttpTransportError('connect_timeout', 'could not connect in time', {cause: error})
  if (error instanceof errors.SocketError) return new HttpTransportError('socket', 'connection closed before the response was complete', {cause: error})
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? 'network'
  // Never echo the error message blindly: some include the URL, which may carry credentials.
  return new HttpTransportError(String(code), `network error (${String(code)})`, {cause: error})
}

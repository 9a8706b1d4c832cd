import {EventEmitter} from 'node:events'

import {Agent, errors, request} from 'undici'

import {
  HttpTransportError,
  isHttpTransportError,
  type HttpClient,
  type HttpRequest,
  type HttpResponse,
} from './http/http-port.js'

/** Defaults: generous enough for a 50 s long poll, short enough that nothing hangs forever. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000
export const DEFAULT_HEADERS_TIMEOUT_MS = 30_000
export const DEFAULT_BODY_TIMEOUT_MS = 30_000
/** Largest answer read when the caller sets no cap: above it, memory is at stake, not data. */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024

/** HttpClient over undici, with a keep-alive connection pool. */
export class UndiciHttpClient implements HttpClient {
  private readonly agent: Agent

  /** `socketPath`: talk HTTP over a unix socket (the Docker engine), whatever the URL's host. */
  constructor(opts: {connectTimeoutMs?: number; socketPath?: string} = {}) {
    this.agent = new Agent({
      connect: {
        timeout: opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
        ...(opts.socketPath ? {socketPath: opts.socketPath} : {}),
      },
      keepAliveTimeout: 30_000,
      // Per-request values below win; these are upper bounds for the pool.
      headersTimeout: 0,
      bodyTimeout: 0,
    })
  }

  async request(req: HttpRequest): Promise<HttpResponse> {
    req.signal?.throwIfAborted()
    const headersTimeout = req.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS
    const bodyTimeout = req.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS
    const deadlineMs = req.deadlineMs ?? headersTimeout + bodyTimeout
    const maxBytes = req.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
    // One deadline for the whole exchange: undici's timeouts only bound each wait, not their sum.
    // undici takes an EventEmitter as the request's signal: one per request, where an
    // AbortController would make AbortSignals, which node keeps alive until a full collection
    // (old-space garbage at each request of the progress loop).
    const abort = new EventEmitter()
    let pastDeadline = false
    const timer = setTimeout(() => {
      pastDeadline = true
      abort.emit('abort')
    }, deadlineMs)
    const onAbort = (): void => {
      abort.emit('abort')
    }
    req.signal?.addEventListener('abort', onAbort, {once: true})
    try {
      const res = await request(req.url, {
        method: req.method,
        headers: req.headers ?? {},
        ...(req.body === undefined ? {} : {body: req.body}),
        signal: abort,
        dispatcher: this.agent,
        headersTimeout,
        bodyTimeout,
      })
      const chunks: Buffer[] = []
      let size = 0
      let truncated = false
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        if (size + chunk.length > maxBytes) {
          if (!req.truncateBody) {
            res.body.destroy()
            throw new HttpTransportError('too_large', `answer larger than ${maxBytes} bytes`)
          }
          chunks.push(chunk.subarray(0, maxBytes - size))
          size = maxBytes
          truncated = true
          res.body.destroy()
          break
        }
        chunks.push(chunk)
        size += chunk.length
      }
      const headers: Record<string, string> = {}
      for (const [k, v] of Object.entries(res.headers)) {
        if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v
      }
      return {
        status: res.statusCode,
        headers,
        body: Buffer.concat(chunks, size).toString('utf8'),
        ...(truncated ? {truncated} : {}),
      }
    } catch (error) {
      if (req.signal?.aborted) throw req.signal.reason
      if (isHttpTransportError(error)) throw error
      if (pastDeadline) throw new HttpTransportError('deadline', `no complete answer within ${deadlineMs / 1000} s`)
      throw toTransportError(error)
    } finally {
      clearTimeout(timer)
      req.signal?.removeEventListener('abort', onAbort)
    }
  }

  async close(): Promise<void> {
    await this.agent.close()
  }
}

function toTransportError(error: unknown): HttpTransportError {
  if (error instanceof errors.HeadersTimeoutError)
    return new HttpTransportError('headers_timeout', 'no response headers in time', {cause: error})
  if (error instanceof errors.BodyTimeoutError)
    return new HttpTransportError('body_timeout', 'response body stalled', {cause: error})
  if (error instanceof errors.ConnectTimeoutError)
    return new HttpTransportError('connect_timeout', 'could not connect in time', {cause: error})
  if (error instanceof errors.SocketError)
    return new HttpTransportError('socket', 'connection closed before the response was complete', {cause: error})
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? 'network'
  // Never echo the error message blindly: some include the URL, which may carry credentials.
  return new HttpTransportError(String(code), `network error (${String(code)})`, {cause: error})
}

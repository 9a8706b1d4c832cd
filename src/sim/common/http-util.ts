import type {IncomingMessage, Server, ServerResponse} from 'node:http'

import type {Counters, Fault} from './faults.js'

/** Reads a whole request body (bounded). */
export function readBody(req: IncomingMessage, limit = 64 * 1024 * 1024): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > limit) {
        reject(new Error('body too large'))
        req.destroy()
        return
      }
      chunks.push(c)
    })
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

/** JSON body, or form-encoded body, as an object; undefined when neither parses. */
export function parseParams(req: IncomingMessage, body: Buffer): Record<string, unknown> | undefined {
  if (body.length === 0) return {}
  const type = req.headers['content-type'] ?? ''
  const text = body.toString('utf8')
  if (type.includes('application/x-www-form-urlencoded')) return Object.fromEntries(new URLSearchParams(text))
  try {
    const v = JSON.parse(text) as unknown
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

export function sendJson(
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): void {
  const body = JSON.stringify(value)
  res.writeHead(status, {'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers})
  res.end(body)
}

export function sendText(
  res: ServerResponse,
  status: number,
  body: string,
  headers: Record<string, string> = {},
  contentType = 'text/plain',
): void {
  res.writeHead(status, {'content-type': contentType, 'content-length': Buffer.byteLength(body), ...headers})
  res.end(body)
}

export function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  res.writeHead(status, headers)
  res.end()
}

/** Abortable wait that also ends when the client goes away. */
export function delay(ms: number, req?: IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms)
    function done(): void {
      clearTimeout(t)
      req?.socket.off('close', done)
      resolve()
    }
    req?.socket.once('close', done)
  })
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  409: 'Conflict',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
}

/**
 * Plays a fault. Returns true when the request was answered (or dropped) by the fault,
 * false when the real handler should go on (a pure delay).
 */
export async function playFault(
  fault: Fault,
  req: IncomingMessage,
  res: ServerResponse,
  endpoint: string,
  counters: Counters,
  jsonError: (status: number) => unknown,
): Promise<boolean> {
  if (fault.delayMs) await delay(fault.delayMs, req)
  if (req.socket.destroyed) return true
  if (fault.drop) {
    counters.inc(endpoint, 'dropped')
    req.socket.destroy()
    return true
  }
  if (fault.malformed) {
    const status = fault.status ?? (req.method === 'POST' ? 201 : 200)
    counters.inc(endpoint, status)
    sendText(res, status, '{"id": 1, "token": "trunc', fault.headers, 'application/json')
    return true
  }
  if (fault.status === undefined) return false
  const status = fault.status
  counters.inc(endpoint, status)
  if (fault.body !== undefined) {
    sendText(res, status, fault.body, fault.headers, fault.contentType ?? 'text/plain')
  } else if (status >= 502 && status <= 504) {
    // Gateways answer HTML, not JSON: clients must not choke on it.
    sendText(
      res,
      status,
      `<html><body><h1>${status} ${REASONS[status] ?? ''}</h1></body></html>\n`,
      fault.headers,
      'text/html',
    )
  } else {
    sendJson(res, status, jsonError(status), fault.headers)
  }
  return true
}

export function statusReason(status: number): string {
  return REASONS[status] ?? 'Error'
}

/** Listens on host:port; rejects (EADDRINUSE, EACCES…) instead of emitting an unhandled 'error'. */
export function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error)
    server.once('error', onError)
    server.listen(port, host, () => {
      server.off('error', onError)
      resolve()
    })
  })
}

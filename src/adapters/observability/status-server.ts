import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'

import type {Dispatcher} from '../../core/dispatcher/dispatcher.js'
import type {Logger} from '../../core/logger.js'
import type {Redactor} from '../../core/redact.js'
import type {Metrics} from './metrics.js'

/** `host:port` of GitLab Runner's `listen_address`; an empty host means 127.0.0.1 here, not every interface. */
export function parseListenAddress(a: string): {host: string; port: number} {
  const m = /^(\[[^\]]+\]|[^:]*):(\d{1,5})$/.exec(a)
  if (!m) throw new Error(`listen_address must be host:port, got ${JSON.stringify(a)}`)
  const port = Number(m[2])
  if (port > 65535) throw new Error(`listen_address: port ${port} is above 65535`)
  const host = m[1]!.replace(/^\[|\]$/g, '')
  return {host: host === '' ? '127.0.0.1' : host, port}
}

/** 127.0.0.0/8, ::1 (and its IPv4-mapped form of 127.x), localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase()
  return h === 'localhost' || h === '::1' || /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)
}

/**
 * Limits of the status server: it is reachable by whoever can reach `listen_address`, so no
 * client may hold its sockets (file descriptors the daemon needs for jobs) or its time.
 */
export interface StatusServerLimits {
  /** Open connections beyond this are closed at once. Default 32. */
  maxConnections: number
  /** Ms to receive a request's headers. Default 10 s. */
  headersTimeoutMs: number
  /** Ms to receive a whole request. Default 20 s. */
  requestTimeoutMs: number
  /** Ms an idle keep-alive connection is kept. Default 5 s. */
  keepAliveTimeoutMs: number
}

export const DEFAULT_STATUS_SERVER_LIMITS: StatusServerLimits = {
  maxConnections: 32,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 20_000,
  keepAliveTimeoutMs: 5_000,
}

const PATHS = 'try /metrics, /status or /healthz'

/**
 * The answers to /metrics (Prometheus text), /status (the JSON snapshot) and /healthz, for GET and
 * HEAD; an error is one of that request, never of the daemon. Served on TCP (`listen_address`)
 * and on the control socket (control-socket.ts).
 */
export function statusRequestListener(
  dispatcher: Pick<Dispatcher, 'snapshot' | 'isStopping'>,
  metrics: Pick<Metrics, 'registry'>,
  redactor: Redactor,
): (req: IncomingMessage, res: ServerResponse) => void {
  const fail = (res: ServerResponse, status: number, text: string): void => {
    if (res.headersSent) {
      res.destroy()
      return
    }
    res.writeHead(status, {'content-type': 'text/plain'}).end(`${text}\n`)
  }
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    // HEAD is answered like GET; node leaves the body out.
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, {allow: 'GET, HEAD', 'content-type': 'text/plain'}).end('only GET and HEAD\n')
      return
    }
    const path = requestPath(req.url)
    if (path === undefined) {
      fail(res, 400, `bad request target: ${PATHS}`)
      return
    }
    if (path === '/metrics') {
      metrics.registry
        .metrics()
        .then(
          (text) => {
            res.writeHead(200, {'content-type': metrics.registry.contentType})
            res.end(redactor.redact(text))
          },
          () => fail(res, 500, 'cannot collect the metrics'),
        )
        .catch(() => res.destroy())
      return
    }
    if (path === '/status') {
      const body = JSON.stringify(redactor.redactValue(dispatcher.snapshot()))
      res.writeHead(200, {'content-type': 'application/json'}).end(body)
      return
    }
    if (path === '/healthz') {
      const stopping = dispatcher.isStopping
      res.writeHead(stopping ? 503 : 200, {'content-type': 'text/plain'}).end(stopping ? 'stopping\n' : 'ok\n')
      return
    }
    fail(res, 404, `not found: ${PATHS}`)
  }
  return (req, res) => {
    // Whatever a request holds, it is an error of that request, never of the daemon.
    try {
      handle(req, res)
    } catch {
      fail(res, 500, 'internal error')
    }
  }
}

/** Serves the status pages (`statusRequestListener`) on `listen_address`, with connection limits. */
export async function startStatusServer(
  address: string,
  dispatcher: Pick<Dispatcher, 'snapshot' | 'isStopping'>,
  metrics: Pick<Metrics, 'registry'>,
  redactor: Redactor,
  opts: {logger?: Logger; limits?: Partial<StatusServerLimits>} = {},
): Promise<{server: Server; url: string; close(): Promise<void>}> {
  const {host, port} = parseListenAddress(address)
  const limits = {...DEFAULT_STATUS_SERVER_LIMITS, ...opts.limits}
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // How often node looks for requests past their timeouts.
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
    },
    statusRequestListener(dispatcher, metrics, redactor),
  )
  server.maxConnections = limits.maxConnections
  // A socket that says nothing at all is closed too, not only one that sends half a request.
  server.setTimeout(limits.requestTimeoutMs, (socket) => socket.destroy())
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n')
    else socket.destroy()
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  // After start, a failing socket operation is logged, never thrown out of the event loop.
  server.on('error', (error) => opts.logger?.error('status server error', {error: error.message}))
  const a = server.address() as AddressInfo
  if (!isLoopbackHost(a.address)) {
    opts.logger?.warn(
      `listen_address ${address} is not a loopback address: /metrics, /status and /healthz are served without authentication to every host that can reach ${a.address}:${a.port}; use 127.0.0.1 (or a firewall) unless that is what you want`,
    )
  }
  const url = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`
  return {
    server,
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** The path of an origin-form (`/x?y`) or absolute-form (`http://h/x`) target; undefined when it is neither. */
function requestPath(target: string | undefined): string | undefined {
  if (!target) return undefined
  if (target.startsWith('/')) return target.split('?')[0]!.split('#')[0]
  try {
    return new URL(target).pathname
  } catch {
    return undefined
  }
}

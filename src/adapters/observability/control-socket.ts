import {chmod, lstat, unlink} from 'node:fs/promises'
import {createServer, request, type Server} from 'node:http'
import {connect} from 'node:net'

import type {Dispatcher} from '../../core/dispatcher/dispatcher.js'
import type {Redactor} from '../../core/redact.js'
import type {Metrics} from './metrics.js'
import {DEFAULT_STATUS_SERVER_LIMITS, statusRequestListener} from './status-server.js'

/** Longest path a unix socket may have on Linux (sun_path is 108 bytes, NUL included). */
export const MAX_SOCKET_PATH = 107

export interface ControlSocket {
  path: string
  close(): Promise<void>
}

/**
 * Serves `/status`, `/metrics` and `/healthz` on a unix socket, mode 0600: `status` reaches a
 * running daemon without `listen_address`, and only the daemon's user can ask. The caller holds
 * the state file lock, so a socket file left there by a killed daemon is ours to replace.
 */
export async function startControlSocket(
  path: string,
  dispatcher: Dispatcher,
  metrics: Metrics,
  redactor: Redactor,
): Promise<ControlSocket> {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH)
    throw new Error(`the path ${path} is longer than a unix socket path may be (${MAX_SOCKET_PATH} bytes)`)
  await removeStaleSocket(path)
  const limits = DEFAULT_STATUS_SERVER_LIMITS
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
    },
    statusRequestListener(dispatcher, metrics, redactor),
  )
  server.maxConnections = limits.maxConnections
  server.on('clientError', (_err, socket) => socket.destroy())
  // No moment with a socket others may connect to: the umask covers the bind, chmod makes sure.
  const umask = process.umask(0o177)
  try {
    await listen(server, path)
  } finally {
    process.umask(umask)
  }
  await chmod(path, 0o600)
  return {
    path,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        // Closing the server unlinks its socket file.
        server.close(() => resolve())
      }),
  }
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(path, () => {
      server.off('error', reject)
      resolve()
    })
  })
}

async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean
  try {
    isSocket = (await lstat(path)).isSocket()
  } catch {
    return // absent
  }
  if (!isSocket) throw new Error(`${path} exists and is not a socket: move it away`)
  await unlink(path)
}

/** What a GET on the control socket answered. */
export interface SocketAnswer {
  status: number
  body: string
}

/**
 * GET `path` on a control socket. Rejects when nothing listens there (ENOENT, ECONNREFUSED),
 * or after `timeoutMs`.
 */
export function getFromSocket(socketPath: string, path: string, timeoutMs = 2000): Promise<SocketAnswer> {
  return new Promise((resolve, reject) => {
    // Our own connection and no agent: an agent works out a TLS server name for every request,
    // and its first IP-address check compiles a regex that costs tens of ms at each `status`.
    const req = request(
      {path, method: 'GET', timeout: timeoutMs, createConnection: () => connect(socketPath)},
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => {
          body += d
          if (body.length > 16 * 1024 * 1024) req.destroy(new Error('answer too large'))
        })
        res.on('end', () => resolve({status: res.statusCode ?? 0, body}))
        res.on('error', reject)
      },
    )
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)))
    req.on('error', reject)
    req.end()
  })
}

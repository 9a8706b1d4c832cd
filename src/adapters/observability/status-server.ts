import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'

import type {Dispatcher} from '../../core/dispatcher/dispatcher.js'
import type {Redactor} from '../../core/redact.js'
import type {Metrics} from './metrics.js'

/** `host:port` of GitLab Runner's `listen_address`; an empty host means 127.0.0.1 here, not every interface. */
export function parseListenAddress(a: string): {host: string; port: number} {
  const m = /^(\[[^\]]+\]|[^:]*):(\d+)$/.exec(a)
  if (!m) throw new Error(`listen_address must be host:port, got ${a}`)
  const host = m[1]!.replace(/^\[|\]$/g, '')
  return {host: host === '' ? '127.0.0.1' : host, port: Number(m[2])}
}

/** Serves /metrics (Prometheus text), /status (the JSON snapshot) and /healthz. */
export async function startStatusServer(address: string, dispatcher: Dispatcher, metrics: Metrics, redactor: Redactor): Promise<{server: Server; url: string; close(): Promise<void>}> {
  const {host, port} = parseListenAddress(address)
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    if (req.method !== 'GET') {
      res.writeHead(405, {allow: 'GET'}).end()
      return
    }
    if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, {'content-type': metrics.registry.contentType})
          res.end(redactor.redact(text))
        },
        () => res.writeHead(500).end(),
      )
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
    res.writeHead(404, {'content-type': 'text/plain'}).end('not found: try /metrics, /status or /healthz\n')
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve())
  })
  const a = server.address() as AddressInfo
  const url = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`
  return {server, url, close: () => new Promise<void>((resolve) => {
    server.closeAllConnections()
    server.close(() => resolve())
  })}
}

import {connect, type Socket} from 'node:net'

import {afterEach, describe, expect, it} from 'vitest'

import {startStatusServer} from '../src/adapters/observability/status-server.js'
import {Redactor} from '../src/core/redact.js'
import {captureLogger, type LogLine} from './helpers/dispatcher-harness.js'
import {waitUntil} from './helpers/wait.js'

/** Issue 12, item 2: no request takes the daemon down, and no client holds its sockets. */

type Started = Awaited<ReturnType<typeof startStatusServer>>
const started: Started[] = []
const sockets: Socket[] = []
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy()
  for (const s of started.splice(0)) await s.close()
})

const stubDispatcher = (snapshot: () => unknown = () => ({jobs: [], token: 'x'})) =>
  ({snapshot, isStopping: false}) as never
const stubMetrics = {registry: {metrics: async () => 'hpr_up 1\n', contentType: 'text/plain; version=0.0.4'}} as never

async function start(
  o: {snapshot?: () => unknown; limits?: Record<string, number>; address?: string; logs?: LogLine[]} = {},
): Promise<Started> {
  const s = await startStatusServer(
    o.address ?? '127.0.0.1:0',
    stubDispatcher(o.snapshot),
    stubMetrics,
    new Redactor(),
    {logger: captureLogger(o.logs ?? []), ...(o.limits ? {limits: o.limits} : {})},
  )
  started.push(s)
  return s
}

/** Sends raw bytes, resolves with whatever the server answered before closing. */
function raw(url: string, bytes: string): Promise<string> {
  const {hostname, port} = new URL(url)
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), hostname, () => s.write(bytes))
    let out = ''
    s.on('data', (d) => {
      out += d.toString()
      if (/\r\n\r\n/.test(out)) s.end()
    })
    s.on('error', reject)
    s.on('close', () => resolve(out))
  })
}

describe('status server', () => {
  it('a request target that is not a URL gets 400, and the server lives on', async () => {
    const s = await start()
    for (const target of ['http://[', 'http://[::1', '*', '%%%', 'http://a b/']) {
      const answer = await raw(s.url, `GET ${target} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`)
      expect(answer, target).toMatch(/^HTTP\/1\.1 400 /)
    }
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200)
  })

  it('an error in a handler answers 500 for that request only', async () => {
    const s = await start({
      snapshot: () => {
        throw new TypeError('boom')
      },
    })
    expect((await fetch(`${s.url}/status`)).status).toBe(500)
    expect(await (await fetch(`${s.url}/healthz`)).text()).toBe('ok\n')
  })

  it('HEAD is served like GET, without a body; other methods get 405 with Allow', async () => {
    const s = await start()
    const head = await fetch(`${s.url}/metrics`, {method: 'HEAD'})
    expect(head.status).toBe(200)
    expect(head.headers.get('content-type')).toContain('text/plain')
    expect(await head.text()).toBe('')
    const post = await fetch(`${s.url}/metrics`, {method: 'POST'})
    expect(post.status).toBe(405)
    expect(post.headers.get('allow')).toBe('GET, HEAD')
  })

  it('caps open connections and closes clients that never finish their request', async () => {
    const s = await start({limits: {maxConnections: 8, headersTimeoutMs: 400, requestTimeoutMs: 800}})
    const {port} = new URL(s.url)
    let closed = 0
    for (let i = 0; i < 40; i++) {
      const sock = connect(Number(port), '127.0.0.1', () =>
        sock.write(i % 2 ? 'GET /metrics HTTP/1.1\r\nhost: x\r\n' : ''),
      )
      sock.on('error', () => {})
      sock.resume()
      sock.on('close', () => closed++)
      sockets.push(sock)
    }
    // Beyond the cap, connections are refused at once; the server never holds more than the cap.
    await waitUntil(() => closed >= 32, 10_000, 'connections above the cap closed')
    const open = await new Promise<number>((r) => s.server.getConnections((_e, n) => r(n)))
    expect(open).toBeLessThanOrEqual(8)
    // The ones it holds are dropped when their time is up (silent or half-sent alike), and it serves again.
    await waitUntil(() => closed === 40, 10_000, 'idle connections timed out')
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200)
  })

  it('warns at start when bound to a non-loopback address, not on loopback', async () => {
    const logs: LogLine[] = []
    await start({address: '127.0.0.1:0', logs})
    expect(logs.filter((l) => l.level === 'warn')).toEqual([])
    await start({address: '0.0.0.0:0', logs})
    expect(logs.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual([
      expect.stringMatching(/is not a loopback address: .* without authentication/),
    ])
  })
})

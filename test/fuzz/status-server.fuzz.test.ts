import {connect} from 'node:net'

import fc from 'fast-check'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {startStatusServer} from '../../src/adapters/observability/status-server.js'
import {Redactor} from '../../src/core/redact.js'
import {fuzz, FUZZ_TIMEOUT_MS} from './fuzz-params.js'

/** Issue 12: the status server, sent any bytes, answers or closes that connection, and keeps serving. */

type Started = Awaited<ReturnType<typeof startStatusServer>>
let s: Started
let port: number
const SECRET = 'glcbt-StAtUsFuZz-secret'
beforeAll(async () => {
  const redactor = new Redactor()
  redactor.add(SECRET)
  const dispatcher = {snapshot: () => ({jobs: [{token: SECRET, note: `uses ${SECRET}`}]}), isStopping: false} as never
  const metrics = {
    registry: {metrics: async () => `hpr_up{x="${SECRET}"} 1\n`, contentType: 'text/plain; version=0.0.4'},
  } as never
  s = await startStatusServer('127.0.0.1:0', dispatcher, metrics, redactor, {
    limits: {headersTimeoutMs: 200, requestTimeoutMs: 400, keepAliveTimeoutMs: 100},
  })
  port = Number(new URL(s.url).port)
})
afterAll(async () => {
  await s.close()
})

/**
 * Sends the bytes and waits: the server must answer and close, or close, within its own
 * timeouts. A handler that threw leaves the connection hanging: that is a failure here.
 */
function exchange(bytes: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () => sock.write(bytes))
    let out = ''
    const timer = setTimeout(() => {
      sock.destroy()
      reject(
        new Error(
          `the server neither answered nor closed the connection (it said ${JSON.stringify(out.slice(0, 80))})`,
        ),
      )
    }, 3_000)
    sock.on('data', (d) => (out += d.toString('latin1')))
    sock.on('error', () => {})
    sock.on('close', () => {
      clearTimeout(timer)
      resolve(out)
    })
  })
}

const token = fc.string({
  minLength: 0,
  maxLength: 12,
  unit: fc.constantFrom(...'GETHADPOSUTRCNLX-_/ *?%[]:@\u0000\u007f\u00e9\t'),
})
// Mostly well-formed, so that requests get past node's parser and reach the handlers.
const method = fc.oneof(
  {weight: 4, arbitrary: fc.constantFrom('GET', 'HEAD')},
  {weight: 1, arbitrary: fc.constantFrom('POST', 'PUT', 'OPTIONS', 'TRACE', 'CONNECT', 'get', 'G ET', '')},
  {weight: 1, arbitrary: token},
)
const target = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      '/metrics',
      '/status',
      '/healthz',
      '/',
      '*',
      'http://[',
      'http://[::1',
      'http://x/metrics',
      'http://a b/',
      '//metrics',
      '/%',
      '/metrics?%%',
      '/status#x',
      'x',
      '%%%',
      '/\u00e9',
      '/a'.repeat(3000),
    ),
  },
  {weight: 1, arbitrary: fc.webUrl()},
  {weight: 1, arbitrary: token},
)
const version = fc.oneof(
  {weight: 4, arbitrary: fc.constant('HTTP/1.1')},
  {weight: 1, arbitrary: fc.constantFrom('HTTP/1.0', 'HTTP/2.0', 'HTTP/9.9', 'http/1.1', '', 'HTTP/1.1 extra')},
)
const header = fc.tuple(
  fc.oneof(fc.constantFrom('host', 'content-length', 'transfer-encoding', 'connection', 'expect', 'x'), token),
  fc.oneof(
    fc.constantFrom(
      'x',
      '0',
      '-1',
      '99999999999',
      'chunked',
      'close',
      'keep-alive',
      '100-continue',
      'a\u0000b',
      'é'.repeat(100),
    ),
    token,
  ),
)
const request = fc.record({
  method,
  target,
  version,
  headers: fc.array(header, {maxLength: 6}),
  body: fc.oneof(
    fc.constant(''),
    fc.string({maxLength: 40}),
    fc.constant('0\r\n\r\n'),
    fc.constant('5\r\nhello\r\n0\r\n\r\n'),
  ),
  eol: fc.oneof({weight: 4, arbitrary: fc.constant('\r\n')}, {weight: 1, arbitrary: fc.constantFrom('\n', '\r')}),
  finish: fc.oneof({weight: 4, arbitrary: fc.constant(true)}, {weight: 1, arbitrary: fc.constant(false)}),
  pipeline: fc.nat(2),
})

describe('fuzz: the status server', () => {
  it(
    'any request line, headers and body: an answer or a closed connection, never a crash or a leak',
    async () => {
      await fc.assert(
        fc.asyncProperty(request, async (r) => {
          const head = [`${r.method} ${r.target} ${r.version}`, ...r.headers.map(([k, v]) => `${k}: ${v}`)].join(r.eol)
          const one = head + r.eol + (r.finish ? r.eol + r.body : '')
          const answer = await exchange(Buffer.from(one.repeat(1 + r.pipeline), 'utf8'))
          for (const status of answer.match(/^HTTP\/1\.1 \d{3}/gm) ?? []) expect(status).not.toBe('HTTP/1.1 500')
          expect(answer).not.toContain(SECRET)
          // And it still serves.
          expect((await fetch(`${s.url}/healthz`)).status).toBe(200)
        }),
        fuzz(100),
      )
    },
    FUZZ_TIMEOUT_MS,
  )
})

import {getEventListeners} from 'node:events'
import {createServer, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {UndiciHttpClient} from '../src/adapters/http/undici-http-client.js'
import {GitLabClient} from '../src/core/coordinator/gitlab-client.js'
import {
  HttpTransportError,
  type HttpClient,
  type HttpRequest,
  type HttpResponse,
} from '../src/core/coordinator/http-port.js'
import {CoordinatorError} from '../src/core/coordinator/coordinator-errors.js'
import {abortSignalsMadeBy} from './helpers/abort-signals.js'
import {FakeClock} from './helpers/fake-clock.js'

/** Issue 12, items 5 and 9: every remote call has an overall deadline and a size cap. */

let server: Server
let base: string
const open = new Set<ServerResponse>()
beforeAll(async () => {
  server = createServer((req, res) => {
    open.add(res)
    res.on('close', () => open.delete(res))
    if (req.url === '/dribble') {
      // One byte every 50 ms, 200 bytes in all (10 s): each wait is short, the sum is not.
      res.writeHead(200, {'content-type': 'application/json'})
      let n = 0
      const t = setInterval(() => {
        if (++n > 200 || res.destroyed) {
          clearInterval(t)
          res.end()
          return
        }
        res.write(' ')
      }, 50)
      return
    }
    if (req.url === '/silent') return // never answers (the server is closed at the end)
    if (req.url === '/huge') {
      // 8 MiB in 64 KiB chunks, as fast as the client reads.
      res.writeHead(200, {'content-type': 'text/plain'})
      const chunk = Buffer.alloc(64 * 1024, 'x')
      let left = 128
      const pump = (): void => {
        while (left > 0 && !res.destroyed) {
          left--
          if (!res.write(chunk)) {
            res.once('drain', pump)
            return
          }
        }
        res.end()
      }
      pump()
      return
    }
    res.writeHead(404).end()
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(async () => {
  for (const res of open) res.destroy()
  server.closeAllConnections()
  await new Promise<void>((r) => server.close(() => r()))
})

async function failure(p: Promise<unknown>): Promise<HttpTransportError> {
  const e = await p.then(
    () => undefined,
    (error: unknown) => error,
  )
  expect(e).toBeInstanceOf(HttpTransportError)
  return e as HttpTransportError
}

describe('the HTTP client', () => {
  const http = new UndiciHttpClient()

  it('gives up on an answer that dribbles in, at the deadline, although no single wait is long', async () => {
    const t0 = Date.now()
    const e = await failure(
      http.request({method: 'GET', url: `${base}/dribble`, bodyTimeoutMs: 30_000, deadlineMs: 500}),
    )
    expect(e.code).toBe('deadline')
    expect(e.message).toBe('no complete answer within 0.5 s')
    expect(Date.now() - t0).toBeLessThan(5_000)
  })

  it('gives up on headers that never come, at the deadline', async () => {
    const e = await failure(
      http.request({method: 'GET', url: `${base}/silent`, headersTimeoutMs: 30_000, deadlineMs: 300}),
    )
    expect(e.code).toBe('deadline')
  })

  it("a caller's abort ends the request at once, with the caller's reason, not a deadline", async () => {
    const c = new AbortController()
    setTimeout(() => c.abort(new Error('stop')), 100)
    const t0 = Date.now()
    await expect(
      http.request({method: 'GET', url: `${base}/silent`, signal: c.signal, deadlineMs: 600_000}),
    ).rejects.toThrow('stop')
    // Not at the deadline (10 minutes), nor at vitest's timeout.
    expect(Date.now() - t0).toBeLessThan(20_000)
  })

  it('leaves no deadline timer behind once the answer is in', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
    const before = timers()
    for (let i = 0; i < 10; i++)
      await http.request({
        method: 'GET',
        url: `${base}/huge`,
        maxBodyBytes: 10,
        truncateBody: true,
        deadlineMs: 600_000,
      })
    // One timer may come or go with undici's own connection bookkeeping; ten requests must not leave ten.
    expect(timers()).toBeLessThanOrEqual(before + 1)
  })

  it("makes no AbortSignal of its own for its deadline or for the caller's signal (one request per progress check)", async () => {
    const c = new AbortController()
    const made = await abortSignalsMadeBy(async () => {
      await http.request({method: 'GET', url: `${base}/huge`, signal: c.signal, maxBodyBytes: 10, truncateBody: true})
      expect(
        (await failure(http.request({method: 'GET', url: `${base}/silent`, signal: c.signal, deadlineMs: 200}))).code,
      ).toBe('deadline')
    })
    expect(made).toBe(0)
    expect(getEventListeners(c.signal, 'abort')).toHaveLength(0)
  })

  it('refuses an answer above its size cap without reading it all', async () => {
    const e = await failure(http.request({method: 'GET', url: `${base}/huge`, maxBodyBytes: 1024 * 1024}))
    expect(e.code).toBe('too_large')
    expect(e.message).toBe('answer larger than 1048576 bytes')
  })

  it('or keeps its first bytes when asked to', async () => {
    const res = await http.request({method: 'GET', url: `${base}/huge`, maxBodyBytes: 100_000, truncateBody: true})
    expect(res).toMatchObject({status: 200, truncated: true})
    expect(res.body.length).toBe(100_000)
  })
})

describe('the GitLab client', () => {
  class Recording implements HttpClient {
    readonly requests: HttpRequest[] = []
    constructor(private readonly answer: (r: HttpRequest) => HttpResponse | Error) {}
    async request(req: HttpRequest): Promise<HttpResponse> {
      this.requests.push(req)
      const a = this.answer(req)
      if (a instanceof Error) throw a
      return a
    }
  }
  const runner = {url: 'https://gitlab.example.com', token: 'glrt-RuNnErSeCrEt123', uniqueName: 'glrt-RuN'}
  const job = {id: 7, token: 'glcbt-7'}
  const client = (http: HttpClient) =>
    new GitLabClient({
      http,
      sleep: new FakeClock().sleep,
      now: () => 0,
      random: () => 0.5,
      systemId: 'r_0123456789ab',
      info: {name: 'n', version: '0', revision: 'x', platform: 'linux', architecture: 'amd64'},
    })

  it('sets a deadline and a size cap on every call, per endpoint', async () => {
    const http = new Recording((r) => ({
      status: r.url.endsWith('/jobs/request') ? 204 : 200,
      headers: {'content-type': 'application/json'},
      body: r.url.endsWith('/job') ? '{"status":"running"}' : '[]',
    }))
    const c = client(http)
    await c.requestJob(runner, {})
    await c.jobStatus(runner, job)
    await c.readLog(runner.url, 1, 7, 'glpat-x')
    await c.groupAttributes(runner.url, 'acme', 'glpat-x')
    expect(
      http.requests.map((r) => ({
        deadlineMs: r.deadlineMs,
        maxBodyBytes: r.maxBodyBytes,
        truncateBody: r.truncateBody,
      })),
    ).toEqual([
      {deadlineMs: 90_000 + 30_000, maxBodyBytes: 32 * 1024 * 1024, truncateBody: undefined},
      {deadlineMs: 15_000, maxBodyBytes: 1024 * 1024, truncateBody: undefined},
      {deadlineMs: 30_000, maxBodyBytes: 1024 * 1024, truncateBody: true},
      {deadlineMs: 30_000, maxBodyBytes: 1024 * 1024, truncateBody: undefined},
    ])
  })

  it.each(['deadline', 'too_large'])(
    'does not retry a call that failed by %s: the server had its chance',
    async (code) => {
      const http = new Recording(() => new HttpTransportError(code, 'x'))
      const e = await client(http)
        .jobStatus(runner, job)
        .catch((error: unknown) => error)
      expect(e).toBeInstanceOf(CoordinatorError)
      expect((e as Error).message).toContain('no usable answer: x')
      expect(http.requests).toHaveLength(1)
    },
  )
})

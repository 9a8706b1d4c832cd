import {describe, expect, it} from 'vitest'

import {AbortedError, CoordinatorError} from '../../src/core/coordinator/coordinator-errors.js'
import {GitLabClient} from '../../src/core/coordinator/gitlab-client.js'
import {
  HttpTransportError,
  type HttpClient,
  type HttpRequest,
  type HttpResponse,
} from '../../src/core/coordinator/http-port.js'
import {DEFAULT_RETRY_POLICY, retryDelayMs, serverRequestedDelayMs} from '../../src/core/coordinator/retry.js'
import {FakeClock} from '../helpers/fake-clock.js'

const RUNNER = {url: 'https://gitlab.example.com/', token: 'glrt-RuNnErSeCrEt123', uniqueName: 'glrt-RuN'}
const JOB = {id: 7, token: 'glcbt-JoBsEcReT456'}

/** Answers from a script; records every request. */
class ScriptedHttp implements HttpClient {
  readonly requests: HttpRequest[] = []
  constructor(private readonly script: Array<HttpResponse | Error | ((r: HttpRequest) => Promise<HttpResponse>)>) {}
  async request(req: HttpRequest): Promise<HttpResponse> {
    this.requests.push(req)
    const next = this.script.shift()
    if (next === undefined) throw new Error('no more scripted answers')
    if (next instanceof Error) throw next
    if (typeof next === 'function') return next(req)
    return next
  }
}

const r = (status: number, body = '', headers: Record<string, string> = {}): HttpResponse => ({status, body, headers})
const json = (status: number, value: unknown, headers: Record<string, string> = {}): HttpResponse =>
  r(status, JSON.stringify(value), {'content-type': 'application/json', ...headers})
const JOB_BODY = {id: 7, token: JOB.token, job_info: {project_id: 42}, variables: []}

function client(http: HttpClient, clock = new FakeClock()) {
  return new GitLabClient({
    http,
    sleep: clock.sleep,
    now: clock.now,
    random: () => 0.5,
    systemId: 'r_0123456789ab',
    info: {name: 'heptapod-paas-runner', version: '0.1.0', revision: 'x', platform: 'linux', architecture: 'amd64'},
  })
}

describe('retry delays', () => {
  it('honours Retry-After in seconds and as a date, and RateLimit-ResetTime first', () => {
    const now = Date.parse('2026-11-28T10:00:00Z')
    expect(serverRequestedDelayMs({'retry-after': '7'}, now)).toBe(7000)
    expect(serverRequestedDelayMs({'retry-after': 'Sat, 28 Nov 2026 10:00:05 GMT'}, now)).toBe(5000)
    expect(
      serverRequestedDelayMs({'ratelimit-resettime': 'Sat, 28 Nov 2026 10:00:30 GMT', 'retry-after': '7'}, now),
    ).toBe(30_000)
    expect(serverRequestedDelayMs({}, now)).toBeUndefined()
  })

  it('backs off exponentially with jitter in [d/2, d], capped', () => {
    const p = DEFAULT_RETRY_POLICY
    expect(retryDelayMs(1, p, () => 0)).toBe(50)
    expect(retryDelayMs(1, p, () => 1)).toBe(100)
    expect(retryDelayMs(4, p, () => 1)).toBe(800)
    expect(retryDelayMs(30, p, () => 1)).toBe(60_000)
  })
})

describe('GitLabClient against scripted answers', () => {
  it('retries 502, 503 and a network error, then returns the job', async () => {
    const clock = new FakeClock()
    const http = new ScriptedHttp([
      r(502, '<html>bad gateway</html>', {'content-type': 'text/html'}),
      new HttpTransportError('ECONNRESET', 'reset'),
      r(503),
      json(201, JOB_BODY),
    ])
    const res = await client(http, clock).requestJob(RUNNER, {})
    expect(res).toMatchObject({kind: 'job', job: {id: 7}})
    expect(http.requests).toHaveLength(4)
    expect(clock.sleeps).toEqual([75, 150, 300]) // 100·2^(n-1) with jitter 0.5
  })

  it('waits what Retry-After and RateLimit-ResetTime say', async () => {
    const clock = new FakeClock()
    const reset = new Date(clock.now() + 12_000).toUTCString()
    const http = new ScriptedHttp([
      json(429, {message: {error: 'too many'}}, {'retry-after': '3'}),
      r(503, '', {'ratelimit-resettime': reset}),
      r(204),
    ])
    await client(http, clock).requestJob(RUNNER, {})
    expect(clock.sleeps[0]).toBe(3000)
    expect(clock.sleeps[1]).toBeGreaterThanOrEqual(8000)
    expect(clock.sleeps[1]).toBeLessThanOrEqual(12_000)
  })

  it('classifies a coordinator that stays down as unavailable after 5 attempts', async () => {
    const http = new ScriptedHttp([r(503), r(503), r(503), r(503), r(503)])
    const err = await client(http)
      .requestJob(RUNNER, {})
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(CoordinatorError)
    expect(err).toMatchObject({kind: 'unavailable', status: 503, retryable: true, endpoint: 'POST /jobs/request'})
    expect(http.requests).toHaveLength(5)
  })

  it('classifies an unreachable coordinator as unavailable', async () => {
    const http = new ScriptedHttp(
      Array.from({length: 5}, () => new HttpTransportError('ECONNREFUSED', 'network error (ECONNREFUSED)')),
    )
    await expect(client(http).requestJob(RUNNER, {})).rejects.toMatchObject({
      kind: 'unavailable',
      message: expect.stringContaining('ECONNREFUSED'),
    })
  })

  it('classifies a lasting 429 as rate limited, with the wait asked', async () => {
    const http = new ScriptedHttp(
      Array.from({length: 5}, () => json(429, {message: {error: 'x'}}, {'retry-after': '60'})),
    )
    await expect(client(http).requestJob(RUNNER, {})).rejects.toMatchObject({
      kind: 'rate_limited',
      retryAfterMs: 60_000,
    })
  })

  it('classifies 403 on a job request as a revoked token, without retrying', async () => {
    const http = new ScriptedHttp([json(403, {message: '403 Forbidden'})])
    await expect(client(http).requestJob(RUNNER, {})).rejects.toMatchObject({
      kind: 'token_revoked',
      status: 403,
      retryable: false,
    })
    expect(http.requests).toHaveLength(1)
  })

  it('treats 409 as no job, and keeps last_update when a 204 has none', async () => {
    const http = new ScriptedHttp([
      json(409, {message: '409 Conflict'}),
      r(204, '', {'gitlab-ci-builds-polling': 'yes'}),
      r(204, '', {'x-gitlab-last-update': 'b'.repeat(32)}),
    ])
    const c = client(http)
    expect(await c.requestJob(RUNNER, {lastUpdate: 'a'.repeat(32)})).toEqual({
      kind: 'none',
      longPolling: false,
      conflict: true,
      lastUpdate: 'a'.repeat(32),
    })
    expect(await c.requestJob(RUNNER, {lastUpdate: 'a'.repeat(32)})).toEqual({
      kind: 'none',
      longPolling: true,
      holdEnded: true,
      lastUpdate: 'a'.repeat(32),
    })
    expect(await c.requestJob(RUNNER, {lastUpdate: 'a'.repeat(32)})).toEqual({
      kind: 'none',
      longPolling: false,
      lastUpdate: 'b'.repeat(32),
    })
    expect(JSON.parse(http.requests[0]!.body as string)).toMatchObject({
      last_update: 'a'.repeat(32),
      system_id: 'r_0123456789ab',
      info: {executor: 'docker', features: {two_phase_job_commit: true}},
    })
  })

  it('reports a 201 it cannot decode as unexpected, without leaking the body', async () => {
    const http = new ScriptedHttp([r(201, `{"id": 7, "token": "${JOB.token}`, {'content-type': 'application/json'})])
    const err = (await client(http)
      .requestJob(RUNNER, {})
      .catch((e: unknown) => e)) as CoordinatorError
    expect(err.kind).toBe('unexpected')
    expect(err.message).not.toContain(JOB.token)
  })

  it('aborts at once during a backoff when shutdown is requested', async () => {
    const ac = new AbortController()
    const http = new ScriptedHttp([
      async () => {
        ac.abort(new Error('shutdown'))
        return r(503)
      },
    ])
    await expect(client(http).requestJob(RUNNER, {signal: ac.signal})).rejects.toBeInstanceOf(AbortedError)
    expect(http.requests).toHaveLength(1)
  })

  it("job status: 401 means finished (how it ended from the refused update's Job-Status), a finished status too, running does not", async () => {
    const http = new ScriptedHttp([
      r(401, '{"message":"401 Unauthorized"}'),
      json(403, {message: '403 Forbidden - Job is not processing on runner'}, {'job-status': 'canceled'}),
      json(200, {status: 'running'}),
      json(200, {status: 'canceled'}),
      r(401, '{"message":"401 Unauthorized"}'),
      r(500, 'oops'),
    ])
    const c = client(http)
    expect(await c.jobStatus(RUNNER, JOB)).toEqual({finished: true, status: 'canceled'})
    expect(http.requests[1]).toMatchObject({method: 'PUT', url: 'https://gitlab.example.com/api/v4/jobs/7'})
    expect(JSON.parse(http.requests[1]!.body as string)).toEqual({token: JOB.token}) // no state: it changes nothing
    expect(await c.jobStatus(RUNNER, JOB)).toEqual({finished: false, status: 'running'})
    expect(await c.jobStatus(RUNNER, JOB)).toEqual({finished: true, status: 'canceled'})
    expect(await c.jobStatus(RUNNER, JOB)).toEqual({finished: true}) // nothing learnt: still over
    expect(http.requests[0]!.headers!['job-token']).toBe(JOB.token)
  })

  it('report failed: script_failure with exit code 103; 403 "Job is not running" counts as done', async () => {
    const http = new ScriptedHttp([
      r(200, '200'),
      json(403, {message: '403 Forbidden - Job is not running'}),
      json(403, {message: '403 Forbidden'}),
    ])
    const c = client(http)
    expect(await c.reportFailed(RUNNER, JOB)).toBe('reported')
    expect(JSON.parse(http.requests[0]!.body as string)).toMatchObject({
      token: JOB.token,
      state: 'failed',
      failure_reason: 'script_failure',
      exit_code: 103,
    })
    expect(await c.reportFailed(RUNNER, JOB)).toBe('not-running')
    await expect(c.reportFailed(RUNNER, JOB)).rejects.toMatchObject({kind: 'unexpected', status: 403})
  })

  it('append log: byte ranges with an inclusive end, and one re-sync on 416', async () => {
    const http = new ScriptedHttp([
      r(202, '', {range: '0-7'}),
      r(416, '{"message":"416 Range Not Satisfiable"}', {range: '0-10'}),
      r(202, '', {range: '0-13'}),
    ])
    const c = client(http)
    expect(await c.appendLog(RUNNER, JOB, 0, 'héllo\n')).toEqual({offset: 7}) // 7 bytes: é is 2
    expect(http.requests[0]!.headers!['content-range']).toBe('0-6')
    expect(await c.appendLog(RUNNER, JOB, 7, 'abc')).toEqual({offset: 13})
    expect(http.requests.slice(1).map((q) => q.headers!['content-range'])).toEqual(['7-9', '10-12'])
  })

  it('never puts a token in a URL', async () => {
    const http = new ScriptedHttp([
      r(204),
      r(401),
      r(403),
      r(200, '200'),
      r(202, '', {range: '0-1'}),
      r(200, 'log'),
      json(200, []),
      json(201, {id: 1, token: 'glrt-new'}),
      json(200, {id: 1, token: RUNNER.token}),
      r(204),
    ])
    const c = client(http)
    await c.requestJob(RUNNER, {})
    await c.jobStatus(RUNNER, JOB)
    await c.reportFailed(RUNNER, JOB)
    await c.appendLog(RUNNER, JOB, 0, 'x')
    await c.readLog(RUNNER.url, 42, 7, 'glpat-WaTcH')
    await c.groupAttributes(RUNNER.url, 'acme/sub', 'glpat-AdMiN')
    await c.register(RUNNER.url, {registrationToken: 'GR1348941ReGiStEr', description: 'd'})
    await c.verify(RUNNER.url, RUNNER.token)
    await c.unregister(RUNNER.url, RUNNER.token)
    for (const q of http.requests) {
      for (const t of [RUNNER.token, JOB.token, 'glpat-WaTcH', 'glpat-AdMiN', 'GR1348941ReGiStEr'])
        expect(q.url).not.toContain(t)
    }
    expect(http.requests[6]!.url).toBe('https://gitlab.example.com/api/v4/groups/acme%2Fsub/custom_attributes')
  })
})

describe("the runner's info comes from its executor", () => {
  const info = {name: 'heptapod-paas-runner', version: '0.1.0', revision: 'x', platform: 'linux', architecture: 'amd64'}
  const kube = {executor: 'kubernetes', shell: 'sh', features: {services: false, two_phase_job_commit: true}}

  it("job request, start and failure carry the executor and features the runner's executor declares; docker when it declares none", async () => {
    const clock = new FakeClock()
    const http = new ScriptedHttp([r(204), r(200, '', {'job-status': 'running'}), r(200), r(204)])
    const c = new GitLabClient({
      http,
      sleep: clock.sleep,
      now: clock.now,
      random: () => 0.5,
      systemId: 'r_0123456789ab',
      info,
      innerRunner: (runner) => (runner.uniqueName === RUNNER.uniqueName ? kube : undefined),
    })
    await c.requestJob(RUNNER, {})
    await c.confirmJob(RUNNER, JOB)
    await c.reportFailed(RUNNER, JOB, {reason: 'runner_system_failure'})
    await c.requestJob({...RUNNER, uniqueName: 'other'}, {})
    const infos = http.requests.map(
      (q) =>
        (JSON.parse(q.body as string) as {info: {executor: string; shell: string; features: Record<string, boolean>}})
          .info,
    )
    for (const i of infos.slice(0, 3))
      expect(i).toMatchObject({executor: 'kubernetes', shell: 'sh', features: {services: false}})
    expect(infos[3]).toMatchObject({
      executor: 'docker',
      shell: 'bash',
      features: {services: true, two_phase_job_commit: true},
    })
  })

  it('registration declares the chosen executor', async () => {
    const http = new ScriptedHttp([json(201, {id: 3, token: 'glrt-NeWtOkEn123456'})])
    const clock = new FakeClock()
    const c = new GitLabClient({
      http,
      sleep: clock.sleep,
      now: clock.now,
      random: () => 0.5,
      systemId: 'r_0123456789ab',
      info,
    })
    await c.register('https://gitlab.example.com', {
      registrationToken: 'GR1348941aaaa',
      description: 'd',
      innerRunner: kube,
    })
    expect(JSON.parse(http.requests[0]!.body as string)).toMatchObject({
      info: {executor: 'kubernetes', features: {services: false}},
    })
  })
})

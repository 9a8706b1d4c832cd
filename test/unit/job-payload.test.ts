import {readFileSync} from 'node:fs'

import {afterEach, describe, expect, it} from 'vitest'

import {CoordinatorError} from '../../src/core/coordinator/coordinator-errors.js'
import type {JobRequestResult} from '../../src/core/coordinator/coordinator.js'
import {GitLabClient} from '../../src/core/coordinator/gitlab-client.js'
import type {HttpClient, HttpResponse} from '../../src/core/coordinator/http-port.js'
import {parseJobPayload} from '../../src/core/job-payload.js'
import {Harness} from '../helpers/dispatcher-harness.js'
import {FakeClock} from '../helpers/fake-clock.js'

/** Issue 12, item 3: one malformed job payload fails that job, never the daemon. */

const RUNNER = {url: 'https://gitlab.example.com', token: 'glrt-RuNnErSeCrEt123', uniqueName: 'glrt-RuN'}
const HOSTILE = [
  ['variables: [null]', {variables: [null]}, 'variables[0]: Invalid input: expected object, received null'],
  ['variables: "x"', {variables: 'x'}, 'variables: Invalid input: expected array, received string'],
  [
    'a variable without its value',
    {variables: [{key: 'a'}]},
    'variables[0].value: Invalid input: expected string, received undefined',
  ],
  ['job_info a string', {job_info: 'x'}, 'job_info: Invalid input: expected object, received string'],
  [
    'project_id a string',
    {job_info: {project_id: '42'}},
    'job_info.project_id: Invalid input: expected number, received string',
  ],
  ['services an object', {services: {name: 'x'}}, 'services: Invalid input: expected array, received object'],
] as const

describe('parseJobPayload', () => {
  it('accepts a realistic payload and keeps every field it does not check', () => {
    const raw = JSON.parse(readFileSync('test/fixtures/job-payload.json', 'utf8')) as Record<string, unknown>
    const p = parseJobPayload(raw)
    expect(p.ok).toBe(true)
    expect(p.ok && p.job).toEqual(raw)
  })

  it.each(HOSTILE)('%s: refused in one line, with the id and token to fail the job', (_n, extra, problem) => {
    const p = parseJobPayload({id: 12, token: 'glcbt-x', ...extra})
    expect(p).toEqual({ok: false, ref: {id: 12, token: 'glcbt-x'}, problem})
  })

  it('without an id and a token there is nothing to fail', () => {
    for (const raw of [null, 'x', [], {id: '12', token: 't'}, {id: 12}, {id: -1, token: 't'}, {id: 1.5, token: 't'}]) {
      const p = parseJobPayload(raw)
      expect(p.ok).toBe(false)
      expect(p.ok === false && p.ref).toBeUndefined()
    }
  })
})

describe('the GitLab client, at the edge', () => {
  const answer = (body: unknown): HttpClient => ({
    request: async (): Promise<HttpResponse> => ({
      status: 201,
      headers: {'content-type': 'application/json'},
      body: JSON.stringify(body),
    }),
  })
  const client = (http: HttpClient) =>
    new GitLabClient({
      http,
      sleep: new FakeClock().sleep,
      now: () => 0,
      random: () => 0.5,
      systemId: 'r_0123456789ab',
      info: {name: 'n', version: '0', revision: 'x', platform: 'linux', architecture: 'amd64'},
    })

  it('an assigned job whose payload does not fit is "unreadable", with its id, token and the reason', async () => {
    const r = await client(answer({id: 7, token: 'glcbt-7', variables: 'x'})).requestJob(RUNNER, {})
    expect(r).toEqual({
      kind: 'unreadable',
      job: {id: 7, token: 'glcbt-7'},
      problem: 'variables: Invalid input: expected array, received string',
    })
  })

  it('a payload without an id or token is an error of that call', async () => {
    const err = await client(answer({variables: []}))
      .requestJob(RUNNER, {})
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(CoordinatorError)
    expect((err as Error).message).toMatch(/201 with a job payload that cannot be decoded .*id: /)
  })
})

describe('the dispatcher, given hostile payloads', () => {
  const harnesses: Harness[] = []
  afterEach(() => {
    for (const h of harnesses.splice(0)) {
      h.dispatcher.shutdown('test end').catch(() => {})
      h.dispose()
    }
  })

  /** The fake GitLab's answers go through the same edge as the real client's. */
  function withEdge(h: Harness): void {
    const request = h.gitlab.requestJob.bind(h.gitlab)
    h.gitlab.requestJob = async (runner, o): Promise<JobRequestResult> => {
      const r = await request(runner, o)
      if (r.kind !== 'job') return r
      const p = parseJobPayload(r.job)
      return p.ok ? {kind: 'job', job: p.job} : {kind: 'unreadable', job: p.ref!, problem: p.problem}
    }
  }

  it('fails each unreadable job with the reason in its log, and runs the next one', async () => {
    const h = new Harness()
    harnesses.push(h)
    withEdge(h)
    await h.start()
    const bad = HOSTILE.map(([, extra]) => {
      const j = h.gitlab.enqueue()
      Object.assign(j.payload, extra)
      return j
    })
    const good = h.gitlab.enqueue({flavor: 'S'})
    await h.clock.runUntil(
      () => bad.every((j) => j.status === 'failed') && [...h.cloud.resources.values()].some((r) => r.launched),
      600_000,
      'bad jobs failed, good one launched',
    )
    bad.forEach((j, i) => {
      expect(j.reported).toBe(1)
      expect(j.log).toBe(`\u001b[31mheptapod-paas-runner: the job payload cannot be read: ${HOSTILE[i]![2]}\u001b[0m\n`)
    })
    expect(h.cloud.createdCount).toBe(1)
    expect(good.status).toBe('running')
    // Their slots and weights are released.
    await h.clock.runUntil(() => h.snapshot().jobs.length === 1)
  })

  it('a coordinator that hands over a broken payload as a job does not stop intake', async () => {
    const h = new Harness()
    harnesses.push(h)
    await h.start()
    const bad = h.gitlab.enqueue()
    bad.payload.variables = 'x' as never
    const good = h.gitlab.enqueue({flavor: 'S'})
    await h.clock.runUntil(
      () => [...h.cloud.resources.values()].some((r) => r.launched && r.jobId === good.id),
      600_000,
      'good job launched',
    )
    expect(h.logs.some((l) => l.level === 'error' && /unexpected error while taking a job/.test(l.msg))).toBe(true)
  })
})

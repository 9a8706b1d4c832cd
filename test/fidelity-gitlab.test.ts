/**
 * The GitLab simulator driven by GitLab's official REST client (@gitbeaker/rest), asserting what
 * GitLab documents (shared/reference/gitlab-protocol.md §1.4, §2, §6, §7, §8, §9).
 */
import {Gitlab, GitbeakerRequestError} from '@gitbeaker/rest'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {GitLabSimulator} from '../src/sim/gitlab/gitlab-simulator.js'

let sim: GitLabSimulator
let url: string
let runnerToken: string
let now = Date.parse('2026-06-01T12:00:00Z')

beforeEach(async () => {
  now = Date.parse('2026-06-01T12:00:00Z')
  sim = new GitLabSimulator({now: () => now})
  url = await sim.start()
  runnerToken = sim.createRunner().token
})
afterEach(async () => {
  await sim.stop()
})

const api = (token: string) => new Gitlab({host: url, token})

/** A job taken by a runner that declared `features`, as gitlab-runner does. */
async function takenJob(features: Record<string, boolean> = {}): Promise<{id: number; token: string}> {
  const job = sim.enqueueJob()
  const r = await fetch(`${url}/api/v4/jobs/request`, {
    method: 'POST',
    headers: {'content-type': 'application/json'},
    body: JSON.stringify({token: runnerToken, info: {features}}),
  })
  expect(r.status).toBe(201)
  const payload = (await r.json()) as {id: number; token: string}
  expect(payload.id).toBe(job.id)
  return payload
}

/** The HTTP status of a failed gitbeaker call. */
async function statusOf(p: Promise<unknown>): Promise<number> {
  try {
    await p
  } catch (error) {
    expect(error).toBeInstanceOf(GitbeakerRequestError)
    return ((error as GitbeakerRequestError).cause as {response: Response}).response.status
  }
  throw new Error('the call succeeded')
}

describe('GitLab simulator, driven by @gitbeaker/rest', () => {
  it('Jobs.show and Jobs.showLog: a member with read_api reads the job and its raw log', async () => {
    sim.addPrivateToken('glpat-reporter', {projects: {42: 'reporter'}, scopes: ['read_api']})
    const {id, token} = await takenJob()
    await fetch(`${url}/api/v4/jobs/${id}/trace`, {
      method: 'PATCH',
      headers: {'job-token': token, 'content-range': '0-5'},
      body: 'hello\n',
    })
    const gl = api('glpat-reporter')
    const job = await gl.Jobs.show(42, id)
    expect(job).toMatchObject({id, status: 'running', stage: 'test', pipeline: {project_id: 42}, tag_list: []})
    expect(await gl.Jobs.showLog('acme/widgets', id)).toBe('hello\n')
  })

  it('a token whose user is not a member, lacks read_api, has expired or was never issued is refused as GitLab does', async () => {
    const {id} = await takenJob()
    sim.addPrivateToken('glpat-outsider', {scopes: ['read_api']})
    sim.addPrivateToken('glpat-guest', {projects: {42: 'guest'}, scopes: ['read_api']})
    sim.addPrivateToken('glpat-user-scope', {projects: {42: 'maintainer'}, scopes: ['read_user']})
    sim.addPrivateToken('glpat-expiring', {projects: {42: 'reporter'}, scopes: ['read_api'], expiresAt: now + 60_000})
    // Private project: invisible to non-members (404), forbidden to guests (403).
    expect(await statusOf(api('glpat-outsider').Jobs.showLog(42, id))).toBe(404)
    expect(await statusOf(api('glpat-guest').Jobs.showLog(42, id))).toBe(403)
    expect(await statusOf(api('glpat-user-scope').Jobs.show(42, id))).toBe(403)
    expect(await statusOf(api('glpat-never-issued').Jobs.show(42, id))).toBe(401)
    expect((await api('glpat-expiring').Jobs.show(42, id)).id).toBe(id)
    now += 60_000
    expect(await statusOf(api('glpat-expiring').Jobs.show(42, id))).toBe(401)
  })

  it('Jobs.cancel: 201 with the job; canceling for a runner that declared cancel_gracefully, canceled otherwise', async () => {
    sim.addPrivateToken('glpat-dev', {projects: {42: 'developer'}})
    sim.addPrivateToken('glpat-reader', {projects: {42: 'reporter'}, scopes: ['read_api']})
    const graceful = await takenJob({cancel_gracefully: true, two_phase_job_commit: false})
    const hard = await takenJob({})
    // Canceling needs Developer and the api scope.
    expect(await statusOf(api('glpat-reader').Jobs.cancel(42, graceful.id))).toBe(403)
    expect(await api('glpat-dev').Jobs.cancel(42, graceful.id)).toMatchObject({id: graceful.id, status: 'canceling'})
    expect(await api('glpat-dev').Jobs.cancel(42, hard.id)).toMatchObject({id: hard.id, status: 'canceled'})
    // The runner learns it from Job-Status; a canceling job's final report makes it canceled.
    const touch = await fetch(`${url}/api/v4/jobs/${graceful.id}`, {
      method: 'PUT',
      headers: {'content-type': 'application/json'},
      body: JSON.stringify({token: graceful.token, state: 'running'}),
    })
    expect(touch.headers.get('job-status')).toBe('canceling')
    await fetch(`${url}/api/v4/jobs/${graceful.id}`, {
      method: 'PUT',
      headers: {'content-type': 'application/json'},
      body: JSON.stringify({token: graceful.token, state: 'failed', failure_reason: 'unknown_failure'}),
    })
    expect(sim.job(graceful.id)!.status).toBe('canceled')
    const gone = await fetch(`${url}/api/v4/jobs/${hard.id}/trace`, {
      method: 'PATCH',
      headers: {'job-token': hard.token, 'content-range': '0-0'},
      body: 'x',
    })
    expect([gone.status, gone.headers.get('job-status')]).toEqual([403, 'canceled'])
  })

  it("Jobs.all paginates with GitLab's headers (X-Total, X-Next-Page, Link), and scope[] filters", async () => {
    sim.addPrivateToken('glpat-reporter', {projects: {42: 'reporter'}, scopes: ['read_api']})
    for (let i = 0; i < 7; i++) sim.enqueueJob()
    const gl = api('glpat-reporter')
    const first = await gl.Jobs.all(42, {perPage: 3, maxPages: 1, showExpanded: true})
    expect(first.data).toHaveLength(3)
    expect(first.paginationInfo).toMatchObject({
      total: 7,
      totalPages: 3,
      perPage: 3,
      current: 1,
      next: 2,
      previous: null,
    })
    // gitbeaker follows the Link header through every page.
    const all = await gl.Jobs.all(42, {perPage: 3})
    expect(all.map((j) => j.id)).toEqual([...sim.jobs.keys()].sort((a, b) => b - a))
    expect(
      (
        await fetch(`${url}/api/v4/jobs/request`, {
          method: 'POST',
          headers: {'content-type': 'application/json'},
          body: JSON.stringify({token: runnerToken, info: {}}),
        })
      ).status,
    ).toBe(201)
    expect((await gl.Jobs.all(42, {scope: 'running'})).map((j) => [j.id, j.status])).toEqual([
      [Math.min(...sim.jobs.keys()), 'running'],
    ])
  })

  it("GroupCustomAttributes: administrators only, GitLab's bodies", async () => {
    sim.addPrivateToken('glpat-admin', {admin: true})
    sim.addPrivateToken('glpat-user', {projects: {42: 'owner'}})
    const admin = api('glpat-admin')
    expect(await admin.GroupCustomAttributes.set('acme', 'cc_orga_id', 'orga_x')).toEqual({
      key: 'cc_orga_id',
      value: 'orga_x',
    })
    expect(await admin.GroupCustomAttributes.all('acme')).toEqual([{key: 'cc_orga_id', value: 'orga_x'}])
    expect(await admin.GroupCustomAttributes.show('acme', 'cc_orga_id')).toEqual({key: 'cc_orga_id', value: 'orga_x'})
    expect(await statusOf(api('glpat-user').GroupCustomAttributes.all('acme'))).toBe(403)
    expect(await statusOf(admin.GroupCustomAttributes.show('acme', 'nope'))).toBe(404)
    await admin.GroupCustomAttributes.remove('acme', 'cc_orga_id')
    expect(await admin.GroupCustomAttributes.all('acme')).toEqual([])
  })

  it('Runners.register (legacy registration token) and Runners.remove by token', async () => {
    sim.addRegistrationToken('GR1348941regtoken')
    const gl = api('glpat-unused')
    const reg = await gl.Runners.register('GR1348941regtoken', {description: 'fidelity', tagList: ['a', 'b']})
    expect(reg).toMatchObject({id: expect.any(Number), token: expect.stringMatching(/^glrt-/), token_expires_at: null})
    expect([...sim.runners.values()].find((r) => r.id === reg.id)!.tags).toEqual(['a', 'b'])
    expect(await statusOf(gl.Runners.register('wrong'))).toBe(403)
    await gl.Runners.remove({token: reg.token as string})
    expect(sim.runners.has(reg.token as string)).toBe(false)
  })

  it("fault switches are off by default; a 429 carries Retry-After and GitLab's body (gitbeaker retries it)", async () => {
    sim.addPrivateToken('glpat-reporter', {projects: {42: 'reporter'}, scopes: ['read_api']})
    const {id} = await takenJob()
    expect(sim.counters.get('GET /projects/:id/jobs/:job_id', 429)).toBe(0)
    sim.rateLimit({times: 1, retryAfterSec: 60, endpoint: 'GET /projects/:id/jobs/:job_id'})
    const raw = await fetch(`${url}/api/v4/projects/42/jobs/${id}`, {headers: {'private-token': 'glpat-reporter'}})
    expect([raw.status, raw.headers.get('retry-after'), await raw.json()]).toEqual([
      429,
      '60',
      {message: {error: 'This endpoint has been requested too many times. Try again later.'}},
    ])
    sim.rateLimit({times: 1, endpoint: 'GET /projects/:id/jobs/:job_id'})
    // gitbeaker retries 429 on its own schedule (it does not read Retry-After).
    expect((await api('glpat-reporter').Jobs.show(42, id)).id).toBe(id)
    expect(sim.counters.get('GET /projects/:id/jobs/:job_id', 429)).toBe(2)
  })
})

describe('GitLab simulator: runner API fault switches and modes (plain HTTP, as gitlab-runner speaks it)', () => {
  const request = (extra: Record<string, unknown> = {}) =>
    fetch(`${url}/api/v4/jobs/request`, {
      method: 'POST',
      headers: {'content-type': 'application/json'},
      body: JSON.stringify({token: runnerToken, info: {features: {two_phase_job_commit: true}}, ...extra}),
    })
  const put = (id: number, token: string, state: string) =>
    fetch(`${url}/api/v4/jobs/${id}`, {
      method: 'PUT',
      headers: {'content-type': 'application/json'},
      body: JSON.stringify({token, state}),
    })

  it('409 Conflict on jobs/request when switched on', async () => {
    sim.conflictRequests(1)
    const r = await request()
    expect([r.status, await r.json()]).toEqual([409, {message: '409 Conflict'}])
    expect((await request()).status).toBe(204)
  })

  it('two-phase commit is honoured by default, ignored when switched off', async () => {
    const a = sim.enqueueJob()
    expect((await request()).status).toBe(201)
    expect(sim.job(a.id)!.status).toBe('pending')
    sim.twoPhaseCommit = false
    const b = sim.enqueueJob()
    expect((await request()).status).toBe(201)
    expect(sim.job(b.id)!.status).toBe('running')
  })

  it('202 on the final PUT when switched on: the state is applied on a later PUT, with a growing interval', async () => {
    sim.twoPhaseCommit = false
    sim.finalUpdate202 = 2
    const job = sim.enqueueJob()
    const {token} = (await (await request()).json()) as {token: string}
    const first = await put(job.id, token, 'success')
    expect([
      first.status,
      first.headers.get('x-gitlab-trace-update-interval'),
      first.headers.get('job-status'),
    ]).toEqual([202, '1', 'running'])
    expect((await put(job.id, token, 'success')).status).toBe(202)
    expect(sim.job(job.id)!.status).toBe('running')
    expect((await put(job.id, token, 'success')).status).toBe(200)
    expect(sim.job(job.id)!.status).toBe('success')
  })

  it('runner tokens expire: 403 on every runner call after token_expires_at', async () => {
    const r = sim.createRunner({tokenExpiresAt: new Date(now + 1000).toISOString()})
    const verify = () =>
      fetch(`${url}/api/v4/runners/verify`, {
        method: 'POST',
        headers: {'content-type': 'application/json'},
        body: JSON.stringify({token: r.token}),
      })
    expect(await (await verify()).json()).toMatchObject({
      id: r.id,
      token_expires_at: new Date(now + 1000).toISOString(),
    })
    now += 1000
    expect((await verify()).status).toBe(403)
    const req = await fetch(`${url}/api/v4/jobs/request`, {
      method: 'POST',
      headers: {'content-type': 'application/json'},
      body: JSON.stringify({token: r.token, info: {}}),
    })
    expect(req.status).toBe(403)
  })
})

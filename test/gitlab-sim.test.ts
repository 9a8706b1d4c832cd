import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {GitLabSimulator} from '../src/sim/gitlab/gitlab-simulator.js'
import {waitUntil} from './helpers/wait.js'

let sim: GitLabSimulator
let url: string
let runnerToken: string

beforeEach(async () => {
  sim = new GitLabSimulator()
  url = await sim.start()
  runnerToken = sim.createRunner().token
})
afterEach(async () => {
  await sim.stop()
})

async function call(
  method: string,
  path: string,
  opts: {json?: unknown; body?: string; headers?: Record<string, string>} = {},
) {
  const res = await fetch(`${url}/api/v4${path}`, {
    method,
    headers: {...(opts.json === undefined ? {} : {'content-type': 'application/json'}), ...opts.headers},
    ...(opts.json === undefined
      ? opts.body === undefined
        ? {}
        : {body: opts.body}
      : {body: JSON.stringify(opts.json)}),
  })
  const text = await res.text()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return {status: res.status, headers: res.headers, text, json: json as any}
}

const requestJob = (token = runnerToken, extra: Record<string, unknown> = {}) =>
  call('POST', '/jobs/request', {json: {token, info: {name: 'x'}, ...extra}})

async function runningJob(spec = {}) {
  const job = sim.enqueueJob(spec)
  const r = await requestJob()
  expect(r.status).toBe(201)
  return {job, payload: r.json}
}

describe('POST /jobs/request', () => {
  it('400 without a token (Grape error shape)', async () => {
    const r = await call('POST', '/jobs/request', {json: {}})
    expect([r.status, r.json]).toEqual([400, {error: 'token is missing'}])
  })

  it('403 for an unknown or revoked token', async () => {
    expect((await requestJob('glrt-unknown')).status).toBe(403)
    sim.revokeRunner(runnerToken)
    const r = await requestJob()
    expect([r.status, r.json]).toEqual([403, {message: '403 Forbidden'}])
  })

  it('204 with a queue version when there is no job, and at once when it is unchanged', async () => {
    const a = await requestJob()
    expect(a.status).toBe(204)
    const v = a.headers.get('x-gitlab-last-update')!
    expect(v).toMatch(/^[0-9a-f]{32}$/)
    const b = await requestJob(runnerToken, {last_update: v})
    expect([b.status, b.headers.get('x-gitlab-last-update')]).toEqual([204, v])
  })

  it('201 with a realistic payload; the job is running and no X-GitLab-Last-Update is sent', async () => {
    const job = sim.enqueueJob({flavor: 'S', image: 'node:22', services: ['postgres:16'], variables: {FOO: 'bar'}})
    const r = await requestJob()
    expect(r.status).toBe(201)
    expect(r.headers.get('content-type')).toContain('application/json')
    expect(r.headers.get('x-gitlab-last-update')).toBeNull()
    expect(r.json).toMatchObject({
      id: job.id,
      token: expect.stringMatching(/^glcbt-/),
      job_info: {
        project_id: 42,
        project_full_path: 'acme/widgets',
        project_jobs_running_on_instance_runners_count: '+Inf',
      },
      image: {name: 'node:22'},
      services: [{name: 'postgres:16'}],
      runner_info: {timeout: 3600},
      features: {failure_reasons: expect.arrayContaining(['script_failure'])},
    })
    const vars = Object.fromEntries((r.json.variables as Array<{key: string; value: string}>).map((x) => [x.key, x]))
    expect(vars.CI_JOB_TOKEN).toMatchObject({value: r.json.token, public: false, masked: true})
    expect(vars.CI_CLEVER_CLOUD_FLAVOR).toMatchObject({value: 'S'})
    expect(vars.CI_PROJECT_ROOT_NAMESPACE).toMatchObject({value: 'acme'})
    expect(vars.FOO).toMatchObject({value: 'bar'})
    expect(sim.job(job.id)!.status).toBe('running')
  })

  it('never hands one job to two concurrent requests', async () => {
    sim.enqueueJob()
    const other = sim.createRunner().token
    const results = await Promise.all([requestJob(), requestJob(other), requestJob(), requestJob(other)])
    expect(results.filter((x) => x.status === 201)).toHaveLength(1)
  })

  it('a paused runner gets 204 and never a job', async () => {
    const paused = sim.createRunner({paused: true}).token
    sim.enqueueJob()
    expect((await requestJob(paused)).status).toBe(204)
  })

  it('a tagged job goes only to a runner with those tags', async () => {
    const tagged = sim.createRunner({tags: ['big']}).token
    const job = sim.enqueueJob({tags: ['big']})
    expect((await requestJob()).status).toBe(204)
    const r = await requestJob(tagged)
    expect([r.status, r.json.id]).toEqual([201, job.id])
  })
})

describe('Workhorse long polling', () => {
  it('holds an up-to-date request until a job arrives, then answers a bare 204', async () => {
    sim.longPollMs = 30_000
    const v = (await requestJob()).headers.get('x-gitlab-last-update')!
    const held = requestJob(runnerToken, {last_update: v})
    await waitUntil(() => sim.heldPolls === 1)
    sim.enqueueJob()
    const r = await held
    expect([r.status, r.headers.get('gitlab-ci-builds-polling'), r.headers.get('x-gitlab-last-update')]).toEqual([
      204,
      'yes',
      null,
    ])
    expect((await requestJob(runnerToken, {last_update: v})).status).toBe(201)
  })

  it('ends the hold with a 204 when nothing happens', async () => {
    sim.longPollMs = 50
    const v = (await requestJob()).headers.get('x-gitlab-last-update')!
    const r = await requestJob(runnerToken, {last_update: v})
    expect([r.status, r.headers.get('gitlab-ci-builds-polling')]).toEqual([204, 'yes'])
  })
})

describe('PUT /jobs/:id', () => {
  it('400 without a token, 403 with a wrong one', async () => {
    const {job} = await runningJob()
    expect((await call('PUT', `/jobs/${job.id}`, {json: {state: 'running'}})).status).toBe(400)
    expect((await call('PUT', `/jobs/${job.id}`, {json: {token: 'nope', state: 'running'}})).json).toEqual({
      message: '403 Forbidden',
    })
  })

  it('200 text with Job-Status for a touch; failed records the reason and exit code', async () => {
    const {job, payload} = await runningJob()
    const touch = await call('PUT', `/jobs/${job.id}`, {json: {token: payload.token, state: 'running'}})
    expect([touch.status, touch.text, touch.headers.get('job-status')]).toEqual([200, '200', 'running'])
    const fail = await call('PUT', `/jobs/${job.id}`, {
      json: {token: payload.token, state: 'failed', failure_reason: 'script_failure', exit_code: 103},
    })
    expect(fail.status).toBe(200)
    expect(sim.job(job.id)).toMatchObject({
      status: 'failed',
      failureReason: 'script_failure',
      exitCode: 103,
      failureReports: 1,
    })
  })

  it('403 "not processing" with Job-Status once the job is over', async () => {
    const {job, payload} = await runningJob()
    sim.finishJob(job.id, 'success')
    const r = await call('PUT', `/jobs/${job.id}`, {json: {token: payload.token, state: 'failed'}})
    expect([r.status, r.json.message, r.headers.get('job-status')]).toEqual([
      403,
      '403 Forbidden - Job is not processing on runner',
      'success',
    ])
  })

  it('a canceling job reported as finished becomes canceled', async () => {
    const {job, payload} = await runningJob()
    sim.cancelJob(job.id, {graceful: true})
    expect(
      (await call('PUT', `/jobs/${job.id}`, {json: {token: payload.token, state: 'running'}})).headers.get(
        'job-status',
      ),
    ).toBe('canceling')
    await call('PUT', `/jobs/${job.id}`, {json: {token: payload.token, state: 'success'}})
    expect(sim.job(job.id)!.status).toBe('canceled')
  })

  it('400 on an unknown state', async () => {
    const {job, payload} = await runningJob()
    expect((await call('PUT', `/jobs/${job.id}`, {json: {token: payload.token, state: 'exploded'}})).status).toBe(400)
  })
})

describe('PATCH /jobs/:id/trace', () => {
  it('appends at the exact offset and answers 202 with Range', async () => {
    const {job, payload} = await runningJob()
    const h = {'job-token': payload.token, 'content-type': 'text/plain'}
    const a = await call('PATCH', `/jobs/${job.id}/trace`, {body: 'héllo\n', headers: {...h, 'content-range': '0-6'}})
    expect([
      a.status,
      a.headers.get('range'),
      a.headers.get('job-status'),
      a.headers.get('x-gitlab-trace-update-interval'),
    ]).toEqual([202, '0-7', 'running', '60'])
    expect(sim.job(job.id)!.log.toString()).toBe('héllo\n')
  })

  it('416 with the stored length when the offset is wrong', async () => {
    const {job, payload} = await runningJob()
    const r = await call('PATCH', `/jobs/${job.id}/trace`, {
      body: 'x',
      headers: {'job-token': payload.token, 'content-range': '5-5'},
    })
    expect([r.status, r.headers.get('range'), r.json]).toEqual([416, '0-0', {message: '416 Range Not Satisfiable'}])
  })

  it('400 without Content-Range, 403 with a wrong token, 404 for an unknown job', async () => {
    const {job, payload} = await runningJob()
    expect(
      (await call('PATCH', `/jobs/${job.id}/trace`, {body: 'x', headers: {'job-token': payload.token}})).json,
    ).toEqual({message: '400 Missing header Content-Range'})
    expect(
      (await call('PATCH', `/jobs/${job.id}/trace`, {body: 'x', headers: {'job-token': 'bad', 'content-range': '0-0'}}))
        .status,
    ).toBe(403)
    expect(
      (
        await call('PATCH', '/jobs/999999/trace', {
          body: 'x',
          headers: {'job-token': payload.token, 'content-range': '0-0'},
        })
      ).status,
    ).toBe(404)
  })

  it('403 with Job-Status after the job was canceled', async () => {
    const {job, payload} = await runningJob()
    sim.cancelJob(job.id)
    const r = await call('PATCH', `/jobs/${job.id}/trace`, {
      body: 'x',
      headers: {'job-token': payload.token, 'content-range': '0-0'},
    })
    expect([r.status, r.headers.get('job-status')]).toEqual([403, 'canceled'])
  })
})

describe('GET /job', () => {
  it('200 while running, 401 once finished or without a token, 404 with a private token', async () => {
    const {job, payload} = await runningJob()
    const ok = await call('GET', '/job', {headers: {'job-token': payload.token}})
    expect([ok.status, ok.json.id, ok.json.status]).toEqual([200, job.id, 'running'])
    expect((await call('GET', '/job')).status).toBe(401)
    sim.addPrivateToken('glpat-someone')
    expect((await call('GET', '/job', {headers: {'private-token': 'glpat-someone'}})).status).toBe(404)
    sim.finishJob(job.id, 'success')
    const gone = await call('GET', '/job', {headers: {'job-token': payload.token}})
    expect([gone.status, gone.json]).toEqual([401, {message: '401 Unauthorized'}])
  })
})

describe('GET /projects/:id/jobs/:job_id[/trace]', () => {
  it('needs a private token; 404 for an unknown job; serves the log as text', async () => {
    const {job, payload} = await runningJob()
    await call('PATCH', `/jobs/${job.id}/trace`, {
      body: 'line\n',
      headers: {'job-token': payload.token, 'content-range': '0-4'},
    })
    expect((await call('GET', `/projects/42/jobs/${job.id}/trace`)).status).toBe(401)
    sim.addPrivateToken('glpat-reader', {projects: {42: 'reporter'}, scopes: ['read_api']})
    const h = {'private-token': 'glpat-reader'}
    expect((await call('GET', '/projects/42/jobs/999999/trace', {headers: h})).json).toEqual({message: '404 Not found'})
    const t = await call('GET', `/projects/42/jobs/${job.id}/trace`, {headers: h})
    expect([t.status, t.text, t.headers.get('content-type')]).toEqual([200, 'line\n', 'text/plain'])
    const e = await call('GET', `/projects/acme%2Fwidgets/jobs/${job.id}`, {headers: h})
    expect([e.status, e.json.status]).toEqual([200, 'running'])
  })
})

describe('group custom attributes', () => {
  it('administrators only: 401, 403, 404, then list, get, put and delete', async () => {
    sim.setGroupAttributes('acme', {cc_orga_id: 'orga_1'})
    sim.addPrivateToken('glpat-user')
    sim.addPrivateToken('glpat-admin', {admin: true})
    expect((await call('GET', '/groups/acme/custom_attributes')).status).toBe(401)
    expect(
      (await call('GET', '/groups/acme/custom_attributes', {headers: {'private-token': 'glpat-user'}})).status,
    ).toBe(403)
    const h = {'private-token': 'glpat-admin'}
    expect((await call('GET', '/groups/nope/custom_attributes', {headers: h})).status).toBe(404)
    expect((await call('GET', '/groups/acme/custom_attributes', {headers: h})).json).toEqual([
      {key: 'cc_orga_id', value: 'orga_1'},
    ])
    expect(
      (await call('PUT', '/groups/acme/custom_attributes/cc_orga_token', {json: {value: 't'}, headers: h})).json,
    ).toEqual({key: 'cc_orga_token', value: 't'})
    expect((await call('PUT', '/groups/acme/custom_attributes/x', {json: {}, headers: h})).json).toEqual({
      error: 'value is missing',
    })
    expect((await call('GET', '/groups/acme/custom_attributes/cc_orga_token', {headers: h})).json).toEqual({
      key: 'cc_orga_token',
      value: 't',
    })
    expect((await call('DELETE', '/groups/acme/custom_attributes/cc_orga_token', {headers: h})).status).toBe(204)
    expect((await call('DELETE', '/groups/acme/custom_attributes/cc_orga_token', {headers: h})).json).toEqual({
      message: '404 Custom attribute Not Found',
    })
  })
})

describe('registration', () => {
  it('POST /runners: 400, 403, 201, and 410 when disabled', async () => {
    expect((await call('POST', '/runners', {json: {}})).status).toBe(400)
    expect((await call('POST', '/runners', {json: {token: 'GR1348941nope'}})).json).toEqual({
      message: '403 Forbidden - invalid token supplied',
    })
    sim.addRegistrationToken('GR1348941good')
    const ok = await call('POST', '/runners', {json: {token: 'GR1348941good', description: 'paas', active: false}})
    expect(ok.status).toBe(201)
    expect(ok.json).toMatchObject({
      id: expect.any(Number),
      token: expect.stringMatching(/^glrt-/),
      token_expires_at: null,
    })
    expect(sim.runners.get(ok.json.token)!.paused).toBe(true)
    sim.registrationDisabled = true
    expect((await call('POST', '/runners', {json: {token: 'GR1348941good'}})).status).toBe(410)
  })

  it('POST /runners/verify: 200 and a runner manager; 403 for an unknown token', async () => {
    const r = await call('POST', '/runners/verify', {json: {token: runnerToken, system_id: 'r_abcdefghijkl'}})
    expect(r.json).toMatchObject({id: expect.any(Number), token: runnerToken, token_expires_at: null})
    expect(sim.runners.get(runnerToken)!.managers.has('r_abcdefghijkl')).toBe(true)
    expect((await call('POST', '/runners/verify', {json: {token: 'glrt-nope'}})).status).toBe(403)
  })

  it('DELETE /runners/managers then DELETE /runners', async () => {
    await call('POST', '/runners/verify', {json: {token: runnerToken, system_id: 'r_abcdefghijkl'}})
    expect(
      (await call('DELETE', '/runners/managers', {json: {token: runnerToken, system_id: 'r_abcdefghijkl'}})).status,
    ).toBe(204)
    expect(
      (await call('DELETE', '/runners/managers', {json: {token: runnerToken, system_id: 'r_abcdefghijkl'}})).status,
    ).toBe(404)
    expect((await call('DELETE', '/runners', {json: {token: runnerToken}})).status).toBe(204)
    expect((await call('DELETE', '/runners', {json: {token: runnerToken}})).status).toBe(403)
  })

  it('resetting the token kills the old one', async () => {
    const r = await call('POST', '/runners/reset_authentication_token', {json: {token: runnerToken}})
    expect(r.status).toBe(201)
    expect((await requestJob(runnerToken)).status).toBe(403)
    expect((await requestJob(r.json.token)).status).toBe(204)
  })
})

describe('fault injection and counters', () => {
  it("gateway errors answer HTML; 429 carries Retry-After and GitLab's body", async () => {
    sim.addFault('POST /jobs/request', {status: 502, times: 1})
    sim.addFault('POST /jobs/request', {status: 429, times: 1, headers: {'retry-after': '7'}})
    const a = await requestJob()
    expect([a.status, a.headers.get('content-type')]).toEqual([502, 'text/html'])
    const b = await requestJob()
    expect([b.status, b.headers.get('retry-after'), b.json]).toEqual([
      429,
      '7',
      {message: {error: 'This endpoint has been requested too many times. Try again later.'}},
    ])
    expect((await requestJob()).status).toBe(204)
    expect(sim.counters.snapshot()).toMatchObject({
      'POST /jobs/request 502': 1,
      'POST /jobs/request 429': 1,
      'POST /jobs/request 204': 1,
    })
  })

  it('dropped connections and malformed bodies', async () => {
    sim.addFault('GET /job', {drop: true, times: 1})
    await expect(call('GET', '/job')).rejects.toThrow()
    sim.addFault('POST /jobs/request', {malformed: true, times: 1})
    const r = await requestJob()
    expect([r.status, r.json]).toEqual([201, undefined])
    expect(sim.counters.get('GET /job', 'dropped')).toBe(1)
  })

  it('the control API enqueues and reads jobs for other processes', async () => {
    const res = await fetch(`${url}/_sim/jobs`, {
      method: 'POST',
      headers: {'content-type': 'application/json'},
      body: JSON.stringify({flavor: 'XS'}),
    })
    const view = (await res.json()) as {id: number; status: string}
    expect([res.status, view.status]).toEqual([201, 'pending'])
    const counters = (await (await fetch(`${url}/_sim/counters`)).json()) as Record<string, number>
    expect(counters).toEqual({})
  })
})

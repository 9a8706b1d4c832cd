import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {makeGitLabClient} from '../src/adapters/gitlab/make-gitlab-client.js'
import {AbortedError, CoordinatorError} from '../src/core/coordinator/coordinator-errors.js'
import type {JobRequestResult} from '../src/core/coordinator/coordinator.js'
import type {GitLabClient} from '../src/core/coordinator/gitlab-client.js'
import {GitLabSimulator} from '../src/sim/gitlab/gitlab-simulator.js'
import {waitUntil} from './helpers/wait.js'
import {FakeClock} from './helpers/fake-clock.js'

let sim: GitLabSimulator
let url: string
let runner: {url: string; token: string; uniqueName: string}
let client: GitLabClient

beforeEach(async () => {
  sim = new GitLabSimulator()
  url = await sim.start()
  const token = sim.createRunner().token
  runner = {url, token, uniqueName: token.slice(0, 8)}
  client = makeGitLabClient({systemId: 'r_contract0001'})
})
afterEach(async () => {
  await sim.stop()
})

async function acquire(spec = {}) {
  const simJob = sim.enqueueJob(spec)
  const r = await client.requestJob(runner, {})
  if (r.kind !== 'job') throw new Error('expected a job')
  expect(await client.confirmJob(runner, r.job)).toBe('confirmed')
  return {simJob, job: r.job}
}

describe('GitLab client against the GitLab simulator', () => {
  it('requests a job, then gets none with a queue version to send back', async () => {
    const {simJob, job} = await acquire()
    expect(job.id).toBe(simJob.id)
    const none = await client.requestJob(runner, {})
    expect(none).toMatchObject({kind: 'none', lastUpdate: expect.stringMatching(/^[0-9a-f]{32}$/)})
    expect(sim.runners.get(runner.token)!.managers.has('r_contract0001')).toBe(true)
  })

  it('two-phase commit: a job stays pending until confirmed, and goes back to the queue if never confirmed', async () => {
    sim.ackTimeoutMs = 50
    // The job as GitLab has it at the moment it is handed out (before any timer can run).
    const atAssignment: Array<{status: string; runnerId?: number}> = []
    sim.on('job', (j: {status: string; runnerId?: number; awaitingAckSince?: number}) => {
      if (j.awaitingAckSince !== undefined) atAssignment.push({status: j.status, runnerId: j.runnerId})
    })
    const simJob = sim.enqueueJob()
    const r = await client.requestJob(runner, {})
    if (r.kind !== 'job') throw new Error('expected a job')
    expect(atAssignment).toEqual([{status: 'pending', runnerId: expect.any(Number)}])
    await sim.waitForJob(simJob.id, (j) => j.requeued === 1)
    // We "crashed" before confirming: GitLab gave the job back to the queue; our token is dead.
    expect(await client.confirmJob(runner, r.job)).toBe('gone')
    sim.ackTimeoutMs = 600_000
    const again = await client.requestJob(runner, {})
    expect(again).toMatchObject({kind: 'job', job: {id: simJob.id}})
    expect(await client.confirmJob(runner, (again as {job: {id: number; token: string}}).job)).toBe('confirmed')
    expect(sim.job(simJob.id)!.status).toBe('running')
  })

  it('sees a job finish through GET /job', async () => {
    const {simJob, job} = await acquire()
    expect(await client.jobStatus(runner, job)).toEqual({finished: false, status: 'running'})
    sim.finishJob(simJob.id, 'success')
    // The job token is refused once the job is over; the refused update says how it ended.
    expect(await client.jobStatus(runner, job)).toEqual({finished: true, status: 'success'})
  })

  it('appends to the log, re-syncs after someone else wrote, and reports the job failed', async () => {
    const {simJob, job} = await acquire()
    const a = await client.appendLog(runner, job, 0, '\u001b[31mprovisioning failed\u001b[0m\n')
    expect(a).toEqual({offset: sim.job(simJob.id)!.log.length})
    // The inner runner wrote meanwhile: our offset is stale.
    sim.job(simJob.id)!.log = Buffer.concat([sim.job(simJob.id)!.log, Buffer.from('inner runner output\n')])
    const b = await client.appendLog(runner, job, (a as {offset: number}).offset, 'more\n')
    expect(sim.job(simJob.id)!.log.toString()).toBe(
      '\u001b[31mprovisioning failed\u001b[0m\ninner runner output\nmore\n',
    )
    expect(b).toEqual({offset: sim.job(simJob.id)!.log.length})
    expect(await client.reportFailed(runner, job)).toBe('reported')
    expect(sim.job(simJob.id)).toMatchObject({status: 'failed', failureReason: 'script_failure', exitCode: 103})
    expect(await client.reportFailed(runner, job)).toBe('not-running')
    expect(await client.appendLog(runner, job, 0, 'late\n')).toBe('not-running')
  })

  it('reads a job log with a private token, for the launch watch', async () => {
    const {simJob, job} = await acquire()
    sim.addPrivateToken('glpat-watcher', {projects: {42: 'reporter'}, scopes: ['read_api']})
    sim.addPrivateToken('glpat-outsider', {scopes: ['read_api']})
    expect(await client.readLog(url, 42, simJob.id, 'glpat-watcher')).toBe('')
    // Not a member of the project: GitLab hides it (404), and the watch says why instead of waiting for a log.
    await expect(client.readLog(url, 42, simJob.id, 'glpat-outsider')).rejects.toMatchObject({
      kind: 'unexpected',
      status: 404,
      message: expect.stringMatching(/member of project 42/),
    })
    await client.appendLog(runner, job, 0, 'started\n')
    expect(await client.readLog(url, 42, simJob.id, 'glpat-watcher')).toBe('started\n')
    await expect(client.readLog(url, 42, simJob.id, 'glpat-wrong')).rejects.toMatchObject({
      kind: 'unexpected',
      status: 401,
    })
  })

  it('reads group custom attributes, and says why when it cannot', async () => {
    sim.setGroupAttributes('acme', {cc_orga_id: 'orga_acme', cc_orga_token: 'acme-token'})
    sim.addPrivateToken('glpat-admin', {admin: true})
    sim.addPrivateToken('glpat-user')
    expect(await client.groupAttributes(url, 'acme', 'glpat-admin')).toEqual({
      cc_orga_id: 'orga_acme',
      cc_orga_token: 'acme-token',
    })
    await expect(client.groupAttributes(url, 'acme', 'glpat-user')).rejects.toThrow(/administrator token/)
    await expect(client.groupAttributes(url, 'nope', 'glpat-admin')).rejects.toThrow(/group 'nope' not found/)
  })

  it('registers (legacy), verifies (glrt-) and unregisters', async () => {
    sim.addRegistrationToken('GR1348941regtoken')
    const reg = await client.register(url, {registrationToken: 'GR1348941regtoken', description: 'paas'})
    expect(reg).toMatchObject({id: expect.any(Number), token: expect.stringMatching(/^glrt-/), tokenExpiresAt: null})
    await expect(client.register(url, {registrationToken: 'GR1348941wrong', description: 'x'})).rejects.toMatchObject({
      kind: 'token_revoked',
      status: 403,
    })
    sim.registrationDisabled = true
    await expect(client.register(url, {registrationToken: 'GR1348941regtoken', description: 'x'})).rejects.toThrow(
      /glrt- authentication token/,
    )
    expect(await client.verify(url, reg.token)).toMatchObject({id: reg.id, token: reg.token})
    await client.unregister(url, reg.token) // glrt-: only this runner manager goes
    expect(sim.runners.has(reg.token)).toBe(true)
    await expect(client.verify(url, 'glrt-unknown')).rejects.toMatchObject({kind: 'token_revoked'})
  })

  it('a revoked runner token is classified as such', async () => {
    sim.revokeRunner(runner.token)
    await expect(client.requestJob(runner, {})).rejects.toMatchObject({kind: 'token_revoked', status: 403})
  })

  it('a malformed 201 is an unexpected error, not a crash', async () => {
    sim.addFault('POST /jobs/request', {malformed: true, times: 1})
    await expect(client.requestJob(runner, {})).rejects.toMatchObject({kind: 'unexpected', status: 201})
  })
})

describe('long polling', () => {
  it('shutdown aborts a held long poll: the request ends at once, not when the hold elapses', async () => {
    // A hold far longer than the test's timeout: if the abort did not work, the test would time out.
    sim.longPollMs = 3_600_000
    const first = (await client.requestJob(runner, {})) as Extract<JobRequestResult, {kind: 'none'}>
    const ac = new AbortController()
    const held = client.requestJob(runner, {lastUpdate: first.lastUpdate!, signal: ac.signal})
    await waitUntil(() => sim.heldPolls === 1)
    const answered = sim.counters.get('POST /jobs/request', 204)
    ac.abort(new Error('shutdown'))
    await expect(held).rejects.toBeInstanceOf(AbortedError)
    await waitUntil(() => sim.heldPolls === 0, 10_000, 'the simulator to see the client go')
    expect(sim.counters.get('POST /jobs/request', 204)).toBe(answered) // the hold never ran out
  })

  it("one runner's held poll never delays another coordinator's runner", async () => {
    sim.longPollMs = 50_000
    const other = new GitLabSimulator()
    const otherUrl = await other.start()
    try {
      const otherRunner = {url: otherUrl, token: other.createRunner().token}
      const first = (await client.requestJob(runner, {})) as Extract<JobRequestResult, {kind: 'none'}>
      const ac = new AbortController()
      const held = client
        .requestJob(runner, {lastUpdate: first.lastUpdate!, signal: ac.signal})
        .catch((e: unknown) => e)
      await waitUntil(() => sim.heldPolls === 1)
      other.enqueueJob()
      const got = await client.requestJob(otherRunner, {})
      expect(got.kind).toBe('job')
      expect(sim.heldPolls).toBe(1) // still held while the other runner got its job
      // A job for the held runner ends its hold; it asks again and gets it.
      const job = sim.enqueueJob()
      expect(await held).toMatchObject({kind: 'none', longPolling: true})
      const next = await client.requestJob(runner, {lastUpdate: first.lastUpdate!})
      expect(next).toMatchObject({kind: 'job', job: {id: job.id}})
      ac.abort()
    } finally {
      await other.stop()
    }
  })
})

describe('a coordinator answering 503 for a minute', () => {
  it('loses no job and crashes nothing: the job is taken once GitLab recovers', async () => {
    const clock = new FakeClock()
    const c = makeGitLabClient({systemId: 'r_outage000001', sleep: clock.sleep, now: clock.now})
    sim.addFault('POST /jobs/request', {status: 503})
    // The client's waits are fake: the outage ends after one minute of the fake clock.
    const fault = {start: clock.now()}
    const job = sim.enqueueJob()
    const errors: CoordinatorError[] = []
    let result: JobRequestResult | undefined
    for (let i = 0; i < 100 && !result; i++) {
      if (clock.now() - fault.start >= 60_000) sim.clearFaults()
      try {
        const r = await c.requestJob(runner, {})
        if (r.kind === 'job') result = r
      } catch (error) {
        expect(error).toBeInstanceOf(CoordinatorError)
        expect((error as CoordinatorError).kind).toBe('unavailable')
        errors.push(error as CoordinatorError)
        await clock.sleep(5000) // the intake loop's own backoff
      }
    }
    expect(result).toMatchObject({kind: 'job', job: {id: job.id}})
    expect(await c.confirmJob(runner, (result as {job: {id: number; token: string}}).job)).toBe('confirmed')
    expect(errors.length).toBeGreaterThan(5)
    expect(sim.counters.get('POST /jobs/request', 503)).toBeGreaterThan(20)
    expect(sim.counters.get('POST /jobs/request', 201)).toBe(1)
    expect(sim.job(job.id)).toMatchObject({status: 'running'})
  })
})

import {EventEmitter} from 'node:events'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'

import {Counters, FaultInjector, type Fault} from '../common/faults.js'
import {
  delay,
  listen,
  parseParams,
  playFault,
  readBody,
  sendEmpty,
  sendJson,
  sendText,
  statusReason,
} from '../common/http-util.js'
import {privateToken, type PrivateTokenSpec, type SimPrivateToken} from './gitlab-access.js'
import {header, reply, type Ctx} from './gitlab-http.js'
import {
  buildJobPayload,
  hex,
  jobEntity,
  randomToken,
  type JobSpec,
  type SimJob,
  type SimJobStatus,
  type SimProject,
  type SimRunner,
} from './gitlab-model.js'
import {GitLabUsersApi} from './gitlab-users-api.js'

export interface GitLabSimulatorOptions {
  /** Port to listen on, on 127.0.0.1. 0 (default) picks a free one. */
  port?: number
  host?: string
  /** Workhorse long-poll hold of `POST /jobs/request`, ms. 0 disables (default 0). */
  longPollMs?: number
  /** `X-GitLab-Trace-Update-Interval` returned on log appends, seconds. */
  traceUpdateIntervalSec?: number
  /** Max stored log per job, bytes (GitLab's default plan limit is 100 MB). */
  traceSizeLimit?: number
  /** Clock, ms; inject to control `untilMs` faults and timestamps. */
  now?: () => number
  /** Two-phase commit: a job not acknowledged within this time goes back to the queue (ms). */
  ackTimeoutMs?: number
  /** Runner authentication tokens expire this long after they are issued (ms); never when absent. */
  runnerTokenLifetimeMs?: number
}

type Handler = (ctx: Ctx) => Promise<void> | void

interface HeldPoll {
  runnerToken: string
  release(): void
}

const FINISHED: ReadonlySet<SimJobStatus> = new Set(['success', 'failed', 'canceled'])

/**
 * A GitLab coordinator on 127.0.0.1 that behaves, call for call, like GitLab's runner API
 * (see shared/reference/gitlab-protocol.md): job queue with queue-version tokens and optional
 * Workhorse long polling, job tokens valid only while a job runs, log appends at exact byte
 * offsets, registration (legacy and glrt- verify), custom attributes, GitLab's error shapes.
 * Tests drive it through its methods; other processes through the `/_sim` control API.
 */
export class GitLabSimulator extends EventEmitter {
  readonly faults: FaultInjector
  readonly counters = new Counters()
  readonly runners = new Map<string, SimRunner>()
  readonly jobs = new Map<number, SimJob>()
  readonly projects = new Map<number, SimProject>()
  readonly groups = new Map<string, {id: number; attributes: Map<string, string>}>()
  readonly registrationTokens = new Set<string>()
  readonly privateTokens = new Map<string, SimPrivateToken>()
  registrationDisabled = false
  /**
   * Two-phase commit honoured (default). `false` models a GitLab that ignores it: a job goes
   * `running` as soon as it is handed out, whatever the runner declared.
   */
  twoPhaseCommit = true
  /** Fault switch: the first N final PUTs of each job answer 202 (log still being persisted); 0 (default) is off. */
  finalUpdate202 = 0
  runnerTokenLifetimeMs: number | undefined
  longPollMs: number
  traceUpdateIntervalSec: number
  ackTimeoutMs: number
  private readonly traceSizeLimit: number
  private readonly now: () => number
  private readonly server: Server
  private readonly routes: Array<{method: string; pattern: RegExp; endpoint: string; handler: Handler}> = []
  private readonly held = new Set<HeldPoll>()
  private nextJobId = 1000
  private nextRunnerId = 1
  private nextPipelineId = 500
  private baseUrl = ''

  constructor(private readonly opts: GitLabSimulatorOptions = {}) {
    super()
    this.now = opts.now ?? Date.now
    this.faults = new FaultInjector(this.now)
    this.longPollMs = opts.longPollMs ?? 0
    this.ackTimeoutMs = opts.ackTimeoutMs ?? 60_000
    this.traceUpdateIntervalSec = opts.traceUpdateIntervalSec ?? 60
    this.traceSizeLimit = opts.traceSizeLimit ?? 100 * 1024 * 1024
    this.runnerTokenLifetimeMs = opts.runnerTokenLifetimeMs
    this.server = createServer((req, res) => void this.dispatch(req, res))
    this.server.keepAliveTimeout = 65_000
    this.defineRoutes()
    this.addProject({id: 42, name: 'widgets', fullPath: 'acme/widgets', rootNamespace: 'acme'})
  }

  /** Starts listening; resolves with the base URL (`http://127.0.0.1:<port>`). */
  async start(): Promise<string> {
    await listen(this.server, this.opts.port ?? 0, this.opts.host ?? '127.0.0.1')
    const {port} = this.server.address() as AddressInfo
    this.baseUrl = `http://${this.opts.host ?? '127.0.0.1'}:${port}`
    return this.baseUrl
  }

  get url(): string {
    return this.baseUrl
  }

  async stop(): Promise<void> {
    for (const h of this.held) h.release()
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  // ---- model and control ------------------------------------------------------------------

  /** A runner created in GitLab's UI: its `glrt-` token works for verify and job requests. */
  createRunner(
    o: {
      token?: string
      description?: string
      paused?: boolean
      tags?: string[]
      runUntagged?: boolean
      tokenExpiresAt?: string
    } = {},
  ): SimRunner {
    const r: SimRunner = {
      id: this.nextRunnerId++,
      token: o.token ?? randomToken('glrt-'),
      description: o.description ?? 'paas runner',
      paused: o.paused ?? false,
      tags: o.tags ?? [],
      runUntagged: o.runUntagged ?? true,
      queueVersion: hex(16),
      tokenExpiresAt: o.tokenExpiresAt ?? this.newTokenExpiry(),
      managers: new Map(),
      revoked: false,
    }
    this.runners.set(r.token, r)
    return r
  }

  addRegistrationToken(token: string): void {
    this.registrationTokens.add(token)
  }

  /**
   * A personal access token. By default it belongs to a user who is a member of no project and
   * has the `api` scope: give it `projects: {42: 'reporter'}` to read that project's jobs, as on GitLab.
   */
  addPrivateToken(token: string, o: PrivateTokenSpec = {}): SimPrivateToken {
    const t = privateToken(o)
    this.privateTokens.set(token, t)
    return t
  }

  /** Fault switch: the next `times` calls of `endpoint` (`*`: any) answer 429 with `Retry-After`, as GitLab's rate limiter. */
  rateLimit(o: {times: number; retryAfterSec?: number; endpoint?: string}): void {
    this.addFault(o.endpoint ?? '*', {
      status: 429,
      times: o.times,
      headers: {'retry-after': String(o.retryAfterSec ?? 60)},
    })
  }

  /** Fault switch: the next `times` job requests answer 409 Conflict (the candidate job was taken by another runner). */
  conflictRequests(times: number): void {
    this.addFault('POST /jobs/request', {status: 409, times})
  }

  /** The runner of a live token: not revoked, not expired. */
  private liveRunner(token: string | undefined): SimRunner | undefined {
    const r = token === undefined ? undefined : this.runners.get(token)
    if (!r || r.revoked) return undefined
    if (r.tokenExpiresAt !== null && this.now() >= Date.parse(r.tokenExpiresAt)) return undefined
    return r
  }

  private newTokenExpiry(): string | null {
    return this.runnerTokenLifetimeMs === undefined
      ? null
      : new Date(this.now() + this.runnerTokenLifetimeMs).toISOString()
  }

  addProject(p: SimProject): SimProject {
    this.projects.set(p.id, p)
    if (!this.groups.has(p.rootNamespace))
      this.groups.set(p.rootNamespace, {id: this.groups.size + 1, attributes: new Map()})
    return p
  }

  setGroupAttributes(path: string, attrs: Record<string, string>): void {
    const g = this.groups.get(path) ?? {id: this.groups.size + 1, attributes: new Map<string, string>()}
    for (const [k, v] of Object.entries(attrs)) g.attributes.set(k, v)
    this.groups.set(path, g)
  }

  /** Revokes a runner token: every call with it answers 403 from now on. */
  revokeRunner(token: string): void {
    const r = this.runners.get(token)
    if (r) r.revoked = true
  }

  /** Enqueues a pending job and wakes the runners that could take it. */
  enqueueJob(spec: JobSpec = {}): SimJob {
    const projectId = spec.projectId ?? 42
    if (!this.projects.has(projectId)) throw new Error(`no project ${projectId}`)
    const variables = Array.isArray(spec.variables)
      ? spec.variables
      : Object.entries(spec.variables ?? {}).map(([key, value]) => ({key, value, public: true, masked: false}))
    if (spec.flavor !== undefined)
      variables.push({key: 'CI_CLEVER_CLOUD_FLAVOR', value: spec.flavor, public: true, masked: false})
    if (spec.result !== undefined)
      variables.push({key: 'SIM_JOB_RESULT', value: spec.result, public: true, masked: false})
    if (spec.durationMs !== undefined)
      variables.push({key: 'SIM_JOB_DURATION_MS', value: String(spec.durationMs), public: true, masked: false})
    const job: SimJob = {
      id: this.nextJobId++,
      projectId,
      pipelineId: this.nextPipelineId++,
      name: spec.name ?? 'test',
      stage: spec.stage ?? 'test',
      status: 'pending',
      token: randomToken('glcbt-64_', 24),
      tags: spec.tags ?? [],
      variables,
      image: spec.image === undefined ? 'debian:bookworm' : spec.image,
      services: (spec.services ?? []).map((s) => (typeof s === 'string' ? {name: s} : s)),
      script: spec.script ?? ['echo hello'],
      log: Buffer.alloc(0),
      createdAt: this.now(),
      failureReports: 0,
      requeued: 0,
      history: [],
      ...(spec.runnerToken === undefined ? {} : {runnerToken: spec.runnerToken}),
    }
    this.jobs.set(job.id, job)
    this.setStatus(job, 'pending', 'enqueue')
    for (const r of this.runners.values()) {
      if (this.canTake(r, job)) this.tick(r)
    }
    return job
  }

  /** Cancels a job as a user would: graceful (canceling) or hard (canceled). */
  cancelJob(id: number, o: {graceful?: boolean} = {}): SimJob {
    const job = this.mustJob(id)
    if (FINISHED.has(job.status)) return job
    this.setStatus(job, job.status === 'running' && o.graceful ? 'canceling' : 'canceled', 'user')
    return job
  }

  /** Ends a job server-side (as the inner runner or GitLab itself would). */
  finishJob(id: number, status: 'success' | 'failed' | 'canceled', o: {failureReason?: string} = {}): SimJob {
    const job = this.mustJob(id)
    if (FINISHED.has(job.status)) return job
    if (status === 'failed') job.failureReason = o.failureReason ?? 'script_failure'
    this.setStatus(job, status, 'server')
    return job
  }

  job(id: number): SimJob | undefined {
    return this.jobs.get(id)
  }

  /**
   * Resolves when `predicate` holds for the job, checked on every state change and log append.
   * Rejects after `timeoutMs`, or with `signal`'s reason as soon as it aborts: a pending wait
   * keeps no timer, so a process that stops waiting can exit.
   */
  waitForJob(id: number, predicate: (j: SimJob) => boolean, timeoutMs = 20_000, signal?: AbortSignal): Promise<SimJob> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const j = this.jobs.get(id)
        if (j && predicate(j)) {
          cleanup()
          resolve(j)
          return true
        }
        return false
      }
      const timer = setTimeout(() => {
        cleanup()
        reject(
          new Error(
            `job ${id} did not reach the expected state in ${timeoutMs} ms (status ${this.jobs.get(id)?.status})`,
          ),
        )
      }, timeoutMs)
      const onAbort = (): void => {
        cleanup()
        reject(signal!.reason)
      }
      const cleanup = (): void => {
        clearTimeout(timer)
        this.off('job', check)
        signal?.removeEventListener('abort', onAbort)
      }
      if (signal?.aborted) return onAbort()
      signal?.addEventListener('abort', onAbort, {once: true})
      this.on('job', check)
      check()
    })
  }

  addFault(endpoint: string, fault: Fault): void {
    this.faults.add(endpoint, fault)
  }

  clearFaults(endpoint?: string): void {
    this.faults.clear(endpoint)
  }

  /** Number of long polls being held right now. */
  get heldPolls(): number {
    return this.held.size
  }

  private mustJob(id: number): SimJob {
    const j = this.jobs.get(id)
    if (!j) throw new Error(`no job ${id}`)
    return j
  }

  private setStatus(job: SimJob, status: SimJobStatus, by: string): void {
    job.status = status
    if (status === 'running') job.startedAt = this.now()
    if (FINISHED.has(status)) job.finishedAt = this.now()
    job.history.push({at: this.now(), status, by})
    this.emit('job', job)
  }

  private canTake(r: SimRunner, job: SimJob): boolean {
    if (r.paused || r.revoked) return false
    if (job.runnerToken !== undefined && job.runnerToken !== r.token) return false
    if (job.tags.length === 0) return r.runUntagged
    return job.tags.every((t) => r.tags.includes(t))
  }

  /** New queue version; held long polls of that runner end with a bare 204, as Workhorse does. */
  private tick(r: SimRunner): void {
    r.queueVersion = hex(16)
    for (const h of this.held) if (h.runnerToken === r.token) h.release()
  }

  // ---- HTTP -------------------------------------------------------------------------------

  private route(method: string, path: string, handler: Handler): void {
    const pattern = new RegExp(`^${path.replace(/:[a-z_]+/g, '([^/]+)')}$`)
    this.routes.push({method, pattern, endpoint: `${method} ${path.replace(/^\/api\/v4/, '')}`, handler})
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sim')
    const match = this.routes.find((r) => r.method === req.method && r.pattern.test(url.pathname))
    if (!match) {
      const known = this.routes.some((r) => r.pattern.test(url.pathname))
      sendJson(res, known ? 405 : 404, {error: known ? '405 Not Allowed' : '404 Not Found'})
      return
    }
    const m = match.pattern.exec(url.pathname)!
    const names = [...match.endpoint.matchAll(/:([a-z_]+)/g)].map((x) => x[1]!)
    const params = Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(m[i + 1]!)]))
    let body: Buffer
    try {
      body = await readBody(req)
    } catch {
      return
    }
    const endpoint = match.endpoint
    if (!endpoint.includes('/_sim/')) {
      const fault = this.faults.take(endpoint)
      if (fault && (await playFault(fault, req, res, endpoint, this.counters, gitlabError))) return
    }
    const ctx: Ctx = {
      req,
      res,
      url,
      params,
      body,
      json: parseParams(req, body),
      endpoint,
      status: (code) => this.counters.inc(endpoint, code),
    }
    try {
      await match.handler(ctx)
    } catch (error) {
      ctx.status(500)
      if (!res.headersSent) sendJson(res, 500, {message: '500 Internal Server Error'})
      this.emit('error-handled', error)
    }
  }

  private defineRoutes(): void {
    const r = this.route.bind(this)
    r('POST', '/api/v4/jobs/request', (c) => this.jobsRequest(c))
    r('PUT', '/api/v4/jobs/:id', (c) => this.updateJob(c))
    r('PATCH', '/api/v4/jobs/:id/trace', (c) => this.appendTrace(c))
    r('GET', '/api/v4/job', (c) => this.whoAmI(c))
    // A getter: the URL is known only once the server listens.
    const url = (): string => this.url
    const users = new GitLabUsersApi({
      privateTokens: this.privateTokens,
      projects: this.projects,
      jobs: this.jobs,
      runners: this.runners,
      groups: this.groups,
      get url() {
        return url()
      },
      now: () => this.now(),
      cancelJob: (id, o) => this.cancelJob(id, o),
    })
    r('GET', '/api/v4/projects/:id/jobs', (c) => users.projectJobs(c))
    r('GET', '/api/v4/projects/:id/jobs/:job_id', (c) => users.projectJob(c, false))
    r('POST', '/api/v4/projects/:id/jobs/:job_id/cancel', (c) => users.cancelByUser(c))
    r('GET', '/api/v4/projects/:id/jobs/:job_id/trace', (c) => users.projectJob(c, true))
    for (const m of ['GET', 'PUT', 'DELETE'])
      r(m, '/api/v4/groups/:id/custom_attributes/:key', (c) => users.attributes(c))
    r('GET', '/api/v4/groups/:id/custom_attributes', (c) => users.attributes(c))
    r('POST', '/api/v4/runners', (c) => this.registerRunner(c))
    r('POST', '/api/v4/runners/verify', (c) => this.verifyRunner(c))
    r('DELETE', '/api/v4/runners', (c) => this.deleteRunner(c))
    r('DELETE', '/api/v4/runners/managers', (c) => this.deleteManager(c))
    r('POST', '/api/v4/runners/reset_authentication_token', (c) => this.resetToken(c))
    r('GET', '/api/v4/runners/router/discovery', (c) =>
      reply(c, 501, {message: 'Job Router is not available. Please contact your administrator.'}),
    )
    // Control API (simulator only).
    r('POST', '/_sim/jobs', (c) => sendJson(c.res, 201, this.jobView(this.enqueueJob(c.json as JobSpec))))
    r('GET', '/_sim/jobs/:id', (c) => {
      const j = this.jobs.get(Number(c.params.id))
      if (j) sendJson(c.res, 200, this.jobView(j))
      else sendJson(c.res, 404, {error: 'no such job'})
    })
    r('POST', '/_sim/jobs/:id/cancel', (c) =>
      sendJson(c.res, 200, this.jobView(this.cancelJob(Number(c.params.id), {graceful: c.json?.graceful === true}))),
    )
    r('POST', '/_sim/jobs/:id/finish', (c) =>
      sendJson(
        c.res,
        200,
        this.jobView(this.finishJob(Number(c.params.id), (c.json?.status as 'success') ?? 'success')),
      ),
    )
    r('POST', '/_sim/runners', (c) => {
      const run = this.createRunner(c.json as {token?: string})
      sendJson(c.res, 201, {id: run.id, token: run.token})
    })
    r('POST', '/_sim/registration-tokens', (c) => {
      this.addRegistrationToken(String(c.json?.token))
      sendEmpty(c.res, 204)
    })
    r('POST', '/_sim/private-tokens', (c) => {
      this.addPrivateToken(String(c.json?.token), (c.json ?? {}) as PrivateTokenSpec)
      sendEmpty(c.res, 204)
    })
    r('POST', '/_sim/groups', (c) => {
      this.setGroupAttributes(String(c.json?.path), (c.json?.attributes ?? {}) as Record<string, string>)
      sendEmpty(c.res, 204)
    })
    r('POST', '/_sim/faults', (c) => {
      const {endpoint, ...fault} = (c.json ?? {}) as Fault & {endpoint?: string}
      this.addFault(endpoint ?? '*', fault)
      sendEmpty(c.res, 204)
    })
    r('DELETE', '/_sim/faults', (c) => {
      this.clearFaults()
      sendEmpty(c.res, 204)
    })
    r('GET', '/_sim/counters', (c) => sendJson(c.res, 200, this.counters.snapshot()))
  }

  /** A job as the control API shows it (no token). */
  jobView(j: SimJob): Record<string, unknown> {
    return {
      id: j.id,
      status: j.status,
      projectId: j.projectId,
      runnerId: j.runnerId ?? null,
      failureReason: j.failureReason ?? null,
      exitCode: j.exitCode ?? null,
      failureReports: j.failureReports,
      log: j.log.toString('utf8'),
      history: j.history,
    }
  }

  // POST /jobs/request: Workhorse long polling, then Rails' queue logic (reference §3.3, §3.4).
  private async jobsRequest(c: Ctx): Promise<void> {
    const p = c.json
    if (!p) return reply(c, 400, {error: 'token is missing'})
    const token = typeof p.token === 'string' ? p.token : undefined
    const lastUpdate = typeof p.last_update === 'string' ? p.last_update : undefined
    const polling: Record<string, string> = this.longPollMs > 0 ? {'gitlab-ci-builds-polling': 'yes'} : {}
    const runner = this.liveRunner(token)
    if (this.longPollMs > 0 && token && lastUpdate && runner && runner.queueVersion === lastUpdate) {
      // Workhorse watches the queue key: held until it changes or the hold elapses, then a bare 204.
      let release!: () => void
      const released = new Promise<void>((resolve) => (release = resolve))
      const h: HeldPoll = {runnerToken: token, release}
      this.held.add(h)
      const timer = setTimeout(release, this.longPollMs)
      const onClose = (): void => release()
      c.req.socket.once('close', onClose)
      await released
      clearTimeout(timer)
      c.req.socket.off('close', onClose)
      this.held.delete(h)
      if (c.res.destroyed || c.req.socket.destroyed) return
      c.status(204)
      return sendEmpty(c.res, 204, polling)
    }
    if (!token) return reply(c, 400, {error: 'token is missing'})
    if (!runner) return reply(c, 403, {message: '403 Forbidden'}, polling)
    runner.managers.set(String(p.system_id ?? '<legacy>'), {
      systemId: String(p.system_id ?? '<legacy>'),
      info: p.info,
      contactedAt: this.now(),
    })
    const header = {...polling, 'x-gitlab-last-update': runner.queueVersion}
    if (runner.paused || (lastUpdate && lastUpdate === runner.queueVersion)) {
      c.status(204)
      return sendEmpty(c.res, 204, header)
    }
    const version = runner.queueVersion
    const job = [...this.jobs.values()].find(
      (j) => j.status === 'pending' && j.awaitingAckSince === undefined && this.canTake(runner, j),
    )
    if (!job) {
      c.status(204)
      return sendEmpty(c.res, 204, {...polling, 'x-gitlab-last-update': version})
    }
    // Assignment is atomic: this runs to completion before any other request is handled.
    job.runnerId = runner.id
    const features = (p.info as {features?: Record<string, unknown>} | undefined)?.features
    job.cancelGracefully = features?.cancel_gracefully === true
    if (features?.two_phase_job_commit === true && this.twoPhaseCommit) {
      // Two-phase commit: the job stays pending until the runner confirms it with PUT state=running.
      job.awaitingAckSince = this.now()
      job.history.push({at: this.now(), status: 'pending', by: `assigned to runner ${runner.id}, awaiting ack`})
      const token = job.token
      setTimeout(() => this.ackTimeout(job.id, token), this.ackTimeoutMs).unref()
      this.emit('job', job)
    } else {
      this.setStatus(job, 'running', `runner ${runner.id}`)
    }
    const project = this.projects.get(job.projectId)!
    const payload = buildJobPayload(
      job,
      project,
      runner,
      this.baseUrl,
      ((job.startedAt ?? this.now()) - job.createdAt) / 1000,
    )
    c.status(201)
    sendJson(c.res, 201, payload, polling)
  }

  /** A job never acknowledged goes back to the queue, with a new token. */
  private ackTimeout(id: number, token: string): void {
    const job = this.jobs.get(id)
    if (!job || job.token !== token || job.awaitingAckSince === undefined || job.status !== 'pending') return
    delete job.awaitingAckSince
    delete job.runnerId
    job.requeued++
    job.token = randomToken('glcbt-64_', 24)
    job.history.push({at: this.now(), status: 'pending', by: 'ack timeout: re-queued'})
    for (const r of this.runners.values()) if (this.canTake(r, job)) this.tick(r)
    this.emit('job', job)
  }

  // PUT /jobs/:id (reference §5.2).
  private updateJob(c: Ctx): void {
    const p = c.json
    const token = typeof p?.token === 'string' ? p.token : undefined
    if (!token) return reply(c, 400, {error: 'token is missing'})
    const job = this.jobs.get(Number(c.params.id))
    if (!job || job.token !== token) return reply(c, 403, {message: '403 Forbidden'})
    if (job.awaitingAckSince !== undefined && job.status === 'pending') {
      // Two-phase commit: `running` confirms, `pending` is a keep-alive, anything else is invalid.
      if (p!.state === 'pending') {
        c.status(200)
        return sendText(c.res, 200, '200', {'job-status': 'pending'})
      }
      if (p!.state !== 'running') return reply(c, 400, {error: 'invalid two-phase commit transition'})
      delete job.awaitingAckSince
      this.setStatus(job, 'running', `runner ${job.runnerId} (acknowledged)`)
      c.status(200)
      return sendText(c.res, 200, '200', {'job-status': 'running'})
    }
    if (job.status !== 'running' && job.status !== 'canceling') {
      return reply(c, 403, {message: '403 Forbidden - Job is not processing on runner'}, {'job-status': job.status})
    }
    const state = p!.state
    if (state === 'running' || state === undefined) {
      c.status(200)
      return sendText(c.res, 200, '200', {'job-status': job.status})
    }
    if (state !== 'success' && state !== 'failed') return reply(c, 400, {error: 'state does not have a valid value'})
    if (this.finalUpdate202 > 0 && (job.final202?.count ?? 0) < this.finalUpdate202) {
      // The log is still being persisted: come back later. GitLab applies the state on a later PUT.
      const f = job.final202 ?? {count: 0, state, firstAt: this.now()}
      f.count++
      f.state = state
      job.final202 = f
      const waited = (this.now() - f.firstAt) / 1000
      const interval = Math.min(64, 2 ** Math.max(0, Math.floor(Math.log2(waited / 4 + 1))))
      c.status(202)
      return sendText(c.res, 202, '202', {'job-status': job.status, 'x-gitlab-trace-update-interval': String(interval)})
    }
    if (state === 'failed') {
      job.failureReports++
      job.failureReason = typeof p!.failure_reason === 'string' ? p!.failure_reason : 'unknown_failure'
      if (typeof p!.exit_code === 'number') job.exitCode = p!.exit_code
    }
    this.setStatus(job, job.status === 'canceling' ? 'canceled' : state, 'runner')
    c.status(200)
    sendText(c.res, 200, '200', {'job-status': job.status})
  }

  // PATCH /jobs/:id/trace (reference §5.3): append only at the exact current length.
  private appendTrace(c: Ctx): void {
    const token = header(c.req, 'job-token') ?? c.url.searchParams.get('token') ?? undefined
    const job = this.jobs.get(Number(c.params.id))
    if (!job) return reply(c, 404, {message: '404 Not Found'})
    if (!token || job.token !== token) return reply(c, 403, {message: '403 Forbidden'})
    if (job.status !== 'running' && job.status !== 'canceling') {
      return reply(c, 403, {message: '403 Forbidden - Job is not processing on runner'}, {'job-status': job.status})
    }
    const range = header(c.req, 'content-range')
    if (!range) return reply(c, 400, {message: '400 Missing header Content-Range'})
    const m = /^(\d+)-(\d+)$/.exec(range.trim())
    if (!m) return reply(c, 400, {message: '400 Bad Request'})
    const start = Number(m[1])
    if (start !== job.log.length) {
      return reply(c, 416, {message: '416 Range Not Satisfiable'}, {range: `0-${job.log.length}`})
    }
    if (job.log.length + c.body.length > this.traceSizeLimit) {
      this.finishJob(job.id, 'failed', {failureReason: 'trace_size_exceeded'})
      return reply(c, 403, {message: '403 Forbidden - Trace size exceeded'}, {'job-status': job.status})
    }
    job.log = Buffer.concat([job.log, c.body])
    this.emit('job', job)
    c.status(202)
    sendEmpty(c.res, 202, {
      range: `0-${job.log.length}`,
      'job-status': job.status,
      'x-gitlab-trace-update-interval': String(this.traceUpdateIntervalSec),
    })
  }

  // GET /job (reference §5.7): 401 as soon as the job is not executing.
  private whoAmI(c: Ctx): void {
    const auth = header(c.req, 'authorization')
    const token =
      header(c.req, 'job-token') ??
      (auth?.startsWith('Bearer ') ? auth.slice(7) : undefined) ??
      c.url.searchParams.get('job_token') ??
      undefined
    if (!token && header(c.req, 'private-token')) return reply(c, 404, {message: '404 Job Not Found'})
    const job = token ? [...this.jobs.values()].find((j) => j.token === token) : undefined
    if (!job || (job.status !== 'running' && job.status !== 'canceling'))
      return reply(c, 401, {message: '401 Unauthorized'})
    const runner = [...this.runners.values()].find((r) => r.id === job.runnerId)
    c.status(200)
    sendJson(c.res, 200, jobEntity(job, this.projects.get(job.projectId)!, runner, this.baseUrl))
  }

  // POST /runners: legacy registration (reference §2.1).
  private registerRunner(c: Ctx): void {
    const token = typeof c.json?.token === 'string' ? c.json.token : undefined
    if (!token) return reply(c, 400, {error: 'token is missing'})
    if (this.registrationDisabled) return reply(c, 410, {message: '410 Gone - runner registration disallowed'})
    if (!this.registrationTokens.has(token)) return reply(c, 403, {message: '403 Forbidden - invalid token supplied'})
    const paused = c.json!.paused === true || c.json!.active === false
    const tagList = c.json!.tag_list
    const tags = Array.isArray(tagList)
      ? tagList.map(String)
      : typeof tagList === 'string' && tagList
        ? tagList.split(',').map((t) => t.trim())
        : []
    const runner = this.createRunner({
      description: typeof c.json!.description === 'string' ? c.json!.description : 'runner',
      paused,
      tags,
      runUntagged: c.json!.run_untagged !== false,
    })
    c.status(201)
    sendJson(c.res, 201, {id: runner.id, token: runner.token, token_expires_at: runner.tokenExpiresAt})
  }

  // POST /runners/verify (reference §2.2).
  private verifyRunner(c: Ctx): void {
    const token = typeof c.json?.token === 'string' ? c.json.token : undefined
    if (!token) return reply(c, 400, {error: 'token is missing'})
    const runner = this.liveRunner(token)
    if (!runner) return reply(c, 403, {message: '403 Forbidden'})
    const systemId = String(c.json!.system_id ?? '<legacy>')
    runner.managers.set(systemId, {systemId, info: c.json!.info, contactedAt: this.now()})
    c.status(200)
    sendJson(c.res, 200, {id: runner.id, token: runner.token, token_expires_at: runner.tokenExpiresAt})
  }

  // DELETE /runners (reference §2.3).
  private deleteRunner(c: Ctx): void {
    const token = typeof c.json?.token === 'string' ? c.json.token : undefined
    if (!token) return reply(c, 400, {error: 'token is missing'})
    const runner = this.liveRunner(token)
    if (!runner) return reply(c, 403, {message: '403 Forbidden'})
    this.runners.delete(token)
    c.status(204)
    sendEmpty(c.res, 204)
  }

  private deleteManager(c: Ctx): void {
    const token = typeof c.json?.token === 'string' ? c.json.token : undefined
    if (!token) return reply(c, 400, {error: 'token is missing'})
    const runner = this.liveRunner(token)
    if (!runner) return reply(c, 403, {message: '403 Forbidden'})
    if (!runner.managers.delete(String(c.json!.system_id ?? '')))
      return reply(c, 404, {message: '404 Runner manager not found Not Found'})
    c.status(204)
    sendEmpty(c.res, 204)
  }

  // POST /runners/reset_authentication_token (reference §2.4): the old token dies.
  private resetToken(c: Ctx): void {
    const token = typeof c.json?.token === 'string' ? c.json.token : undefined
    const runner = this.liveRunner(token)
    if (!runner) return reply(c, 403, {message: '403 Forbidden'})
    this.runners.delete(runner.token)
    runner.token = randomToken('glrt-')
    runner.tokenExpiresAt = this.newTokenExpiry()
    this.runners.set(runner.token, runner)
    c.status(201)
    sendJson(c.res, 201, {token: runner.token, token_expires_at: runner.tokenExpiresAt})
  }
}

/** GitLab's JSON error body for a status (reference §1.4). */
export function gitlabError(status: number): unknown {
  if (status === 429) return {message: {error: 'This endpoint has been requested too many times. Try again later.'}}
  return {message: `${status} ${statusReason(status)}`}
}

export {delay}

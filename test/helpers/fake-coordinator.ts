import {AbortedError, CoordinatorError} from '../../src/core/coordinator/coordinator-errors.js'
import type {
  Coordinator,
  JobRef,
  JobRequestResult,
  Registration,
  RunnerEndpoint,
} from '../../src/core/coordinator/coordinator.js'
import type {JobPayload} from '../../src/core/job-payload.js'

export interface FakeJob {
  id: number
  token: string
  runnerToken?: string
  status: 'pending' | 'running' | 'success' | 'failed' | 'canceled'
  payload: JobPayload
  log: string
  reported: number
  /** Exactly what the runner sent when it reported the job failed (no defaults of ours). */
  failureReport?: {reason?: string; exitCode?: number}
}

type Method = 'requestJob' | 'jobStatus' | 'reportFailed' | 'appendLog' | 'readLog'

/** GitLab in memory, for dispatcher unit tests. Every call is counted; faults can be scripted. */
export class FakeCoordinator implements Coordinator {
  readonly jobs = new Map<number, FakeJob>()
  readonly calls: Record<Method, number> = {requestJob: 0, jobStatus: 0, reportFailed: 0, appendLog: 0, readLog: 0}
  /** Simulate long polling: hold requests with nothing to hand out until a job arrives or abort. */
  longPoll = false
  private readonly faults: Array<{method: Method; error: Error}> = []
  private readonly held = new Set<() => void>()
  private nextId = 100

  enqueue(
    o: {flavor?: string; variables?: Record<string, string>; projectId?: number; runnerToken?: string} = {},
  ): FakeJob {
    const id = this.nextId++
    const variables = Object.entries({...o.variables, ...(o.flavor ? {CI_CLEVER_CLOUD_FLAVOR: o.flavor} : {})}).map(
      ([key, value]) => ({key, value}),
    )
    const job: FakeJob = {
      id,
      token: `glcbt-job-${id}-secret`,
      status: 'pending',
      payload: {
        id,
        token: `glcbt-job-${id}-secret`,
        job_info: {project_id: o.projectId ?? 42, project_name: 'widgets'},
        variables,
      },
      log: '',
      reported: 0,
      ...(o.runnerToken ? {runnerToken: o.runnerToken} : {}),
    }
    this.jobs.set(id, job)
    for (const release of this.held) release()
    return job
  }

  fail(method: Method, error: Error, times = 1): void {
    for (let i = 0; i < times; i++) this.faults.push({method, error})
  }

  finish(id: number, status: 'success' | 'failed' | 'canceled' = 'success'): void {
    const j = this.jobs.get(id)!
    if (j.status === 'pending' || j.status === 'running') j.status = status
  }

  /** The inner runner writes to the job log. */
  write(id: number, text: string): void {
    this.jobs.get(id)!.log += text
  }

  get heldPolls(): number {
    return this.held.size
  }

  private fault(method: Method): void {
    this.calls[method]++
    const i = this.faults.findIndex((f) => f.method === method)
    if (i >= 0) throw this.faults.splice(i, 1)[0]!.error
  }

  async requestJob(runner: RunnerEndpoint, o: {lastUpdate?: string; signal?: AbortSignal}): Promise<JobRequestResult> {
    this.fault('requestJob')
    o.signal?.throwIfAborted()
    const take = (): FakeJob | undefined =>
      [...this.jobs.values()].find((j) => j.status === 'pending' && (!j.runnerToken || j.runnerToken === runner.token))
    let job = take()
    if (!job && this.longPoll && o.lastUpdate) {
      await new Promise<void>((resolve, reject) => {
        const release = (): void => {
          this.held.delete(release)
          o.signal?.removeEventListener('abort', onAbort)
          resolve()
        }
        const onAbort = (): void => {
          this.held.delete(release)
          reject(new AbortedError('POST /jobs/request'))
        }
        o.signal?.addEventListener('abort', onAbort, {once: true})
        this.held.add(release)
      })
      return {kind: 'none', longPolling: true, holdEnded: true, lastUpdate: o.lastUpdate}
    }
    job = take()
    if (!job) return {kind: 'none', longPolling: this.longPoll, lastUpdate: 'v1'.padEnd(32, '0')}
    job.status = 'running'
    return {kind: 'job', job: structuredClone(job.payload)}
  }

  async confirmJob(_r: RunnerEndpoint, job: JobRef): Promise<'confirmed' | 'gone'> {
    const j = this.jobs.get(job.id)
    return j && j.token === job.token && j.status === 'running' ? 'confirmed' : 'gone'
  }

  /** Runs before every status check (a test may make one GitLab slow or rate limited). */
  beforeStatus?: (runner: RunnerEndpoint, job: JobRef) => Promise<void>

  async jobStatus(r: RunnerEndpoint, job: JobRef): Promise<{finished: boolean; status?: string}> {
    this.fault('jobStatus')
    await this.beforeStatus?.(r, job)
    const j = this.jobs.get(job.id)
    if (!j || j.token !== job.token || j.status !== 'running') return {finished: true}
    return {finished: false, status: 'running'}
  }

  async reportFailed(
    _r: RunnerEndpoint,
    job: JobRef,
    o: {reason?: string; exitCode?: number} = {},
  ): Promise<'reported' | 'not-running'> {
    this.fault('reportFailed')
    const j = this.jobs.get(job.id)!
    if (j.status !== 'running') return 'not-running'
    j.reported++
    j.status = 'failed'
    j.failureReport = {
      ...(o.reason === undefined ? {} : {reason: o.reason}),
      ...(o.exitCode === undefined ? {} : {exitCode: o.exitCode}),
    }
    return 'reported'
  }

  async appendLog(
    _r: RunnerEndpoint,
    job: JobRef,
    offset: number,
    text: string,
  ): Promise<{offset: number} | 'not-running'> {
    this.fault('appendLog')
    const j = this.jobs.get(job.id)!
    if (j.status !== 'running') return 'not-running'
    const bytes = Buffer.byteLength(j.log)
    if (offset !== bytes)
      throw new CoordinatorError('unexpected', 'PATCH /jobs/:id/trace', `416 at ${offset}, log has ${bytes}`, {
        status: 416,
      })
    j.log += text
    return {offset: Buffer.byteLength(j.log)}
  }

  async readLog(_url: string, _p: number, jobId: number): Promise<string> {
    this.fault('readLog')
    return this.jobs.get(jobId)?.log ?? ''
  }

  async groupAttributes(): Promise<Record<string, string>> {
    return {}
  }

  async register(): Promise<Registration> {
    throw new Error('not in dispatcher tests')
  }

  async verify(): Promise<Registration> {
    throw new Error('not in dispatcher tests')
  }

  async unregister(): Promise<void> {}
}

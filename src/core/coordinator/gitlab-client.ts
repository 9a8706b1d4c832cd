import type {InnerRunnerInfo} from '@heptapod-paas-runner/plugin-api'

import {parseJobPayload} from '../job-payload.js'
import {CoordinatorError} from './coordinator-errors.js'
import type {
  Coordinator,
  JobRef,
  JobRequestResult,
  RegisterOptions,
  Registration,
  RunnerEndpoint,
} from './coordinator.js'
import {FINISHED_JOB_STATUSES} from './coordinator.js'
import {GitLabRunnerAdmin} from './gitlab-runner-admin.js'
import {
  api,
  describeBody,
  gitlabMessage,
  GitLabTransport,
  JSON_HEADERS,
  parseJson,
  who,
  type GitLabTransportOptions,
} from './gitlab-transport.js'
import type {HttpResponse} from './http-port.js'
import {runnerInfoBody} from './runner-info.js'

export {api, gitlabMessage} from './gitlab-transport.js'

export interface GitLabClientOptions extends GitLabTransportOptions {
  /** `r_` + 12 alphanumerics: identifies this daemon as a runner manager. */
  systemId: string
  /** Response-header timeout of `POST /jobs/request`: above Workhorse's ~50 s hold. */
  longPollTimeoutMs?: number
  /** How a runner's jobs run, as its executor declares it (`info.executor`, `info.features`); docker by default. */
  innerRunner?(runner: RunnerEndpoint): InnerRunnerInfo | undefined
}

/** The GitLab runner API client, over the HttpClient port. See the Coordinator interface. */
export class GitLabClient implements Coordinator {
  private readonly transport: GitLabTransport
  private readonly admin: GitLabRunnerAdmin

  constructor(private readonly opts: GitLabClientOptions) {
    this.transport = new GitLabTransport(opts)
    this.admin = new GitLabRunnerAdmin(this.transport, opts)
  }

  /** The `info` object of a runner's calls, with what its executor declares. */
  private infoFor(runner: RunnerEndpoint): Record<string, unknown> {
    return runnerInfoBody(this.opts.info, this.opts.innerRunner?.(runner))
  }

  /** Until when calls of this endpoint to this GitLab are held back by a rate limit, if they are. */
  rateLimitedUntil(url: string, endpoint: string): number | undefined {
    return this.transport.rateLimitedUntil(url, endpoint)
  }

  async requestJob(runner: RunnerEndpoint, o: {lastUpdate?: string; signal?: AbortSignal}): Promise<JobRequestResult> {
    const endpoint = 'POST /jobs/request'
    const body = {
      token: runner.token,
      system_id: this.opts.systemId,
      info: this.infoFor(runner),
      ...(o.lastUpdate ? {last_update: o.lastUpdate} : {}),
    }
    const res = await this.transport.call(
      endpoint,
      {
        method: 'POST',
        url: api(runner.url, '/jobs/request'),
        headers: {...JSON_HEADERS, 'runner-token': runner.token},
        body: JSON.stringify(body),
        headersTimeoutMs: this.opts.longPollTimeoutMs ?? 90_000,
      },
      o.signal,
      runner,
    )
    const longPolling = res.headers['gitlab-ci-builds-polling'] === 'yes'
    switch (res.status) {
      case 201: {
        const parsed = (res.headers['content-type'] ?? '').includes('application/json')
          ? parseJobPayload(parseJson<unknown>(res.body))
          : {ok: false as const, problem: 'not JSON'}
        if (parsed.ok) return {kind: 'job', job: parsed.job}
        // With an id and a token, the job can still be failed with the reason; without, GitLab times it out.
        if (parsed.ref) return {kind: 'unreadable', job: parsed.ref, problem: parsed.problem}
        throw new CoordinatorError(
          'unexpected',
          endpoint,
          `201 with a job payload that cannot be decoded (${describeBody(res)}: ${parsed.problem}); the job is lost on our side and GitLab will time it out`,
          {status: 201, ...who(runner)},
        )
      }
      case 204: {
        const header = res.headers['x-gitlab-last-update']
        const lastUpdate = header || o.lastUpdate
        return {
          kind: 'none',
          longPolling,
          ...(longPolling && !header ? {holdEnded: true} : {}),
          ...(lastUpdate ? {lastUpdate} : {}),
        }
      }
      case 409:
        return {kind: 'none', longPolling, conflict: true, ...(o.lastUpdate ? {lastUpdate: o.lastUpdate} : {})}
      case 403:
        throw new CoordinatorError(
          'token_revoked',
          endpoint,
          `403: the runner token is unknown, expired or revoked (${gitlabMessage(res)})`,
          {status: 403, ...who(runner)},
        )
      case 422:
        throw new CoordinatorError(
          'token_revoked',
          endpoint,
          `422: ${gitlabMessage(res)}; the runner cannot take jobs (orphaned runner?)`,
          {status: 422, ...who(runner)},
        )
      default:
        throw this.transport.failure(endpoint, res, runner)
    }
  }

  async confirmJob(runner: RunnerEndpoint, job: JobRef, o: {signal?: AbortSignal} = {}): Promise<'confirmed' | 'gone'> {
    const endpoint = 'PUT /jobs/:id'
    const res = await this.transport.call(
      endpoint,
      {
        method: 'PUT',
        url: api(runner.url, `/jobs/${job.id}`),
        headers: {...JSON_HEADERS, 'job-token': job.token},
        body: JSON.stringify({token: job.token, state: 'running', info: this.infoFor(runner)}),
      },
      o.signal,
      runner,
      job.id,
    )
    if (res.status === 200 || res.status === 202) {
      const status = res.headers['job-status']
      return status === 'canceled' || status === 'failed' || status === 'success' ? 'gone' : 'confirmed'
    }
    // 403: not ours any more (re-queued after our crash, canceled…); 404: gone; 409: bound to another manager.
    if (res.status === 403 || res.status === 404 || res.status === 409) return 'gone'
    throw this.transport.failure(endpoint, res, runner, job.id)
  }

  async jobStatus(
    runner: RunnerEndpoint,
    job: JobRef,
    o: {signal?: AbortSignal} = {},
  ): Promise<{finished: boolean; status?: string}> {
    const endpoint = 'GET /job'
    const res = await this.transport.call(
      endpoint,
      {method: 'GET', url: api(runner.url, '/job'), headers: {accept: 'application/json', 'job-token': job.token}},
      o.signal,
      runner,
      job.id,
    )
    // Job tokens are only valid while the job runs: 401 means it is over. How it ended, GitLab says
    // only in the Job-Status header of a refused job update (as gitlab-runner learns of a cancel).
    if (res.status === 401) return {finished: true, ...(await this.endedAs(runner, job, o.signal))}
    if (res.status === 200) {
      const status = parseJson<{status?: unknown}>(res.body)?.status
      if (typeof status !== 'string') {
        throw new CoordinatorError('unexpected', endpoint, `200 without a job status (${describeBody(res)})`, {
          status: 200,
          jobId: job.id,
          ...who(runner),
        })
      }
      return {finished: FINISHED_JOB_STATUSES.has(status), status}
    }
    throw this.transport.failure(endpoint, res, runner, job.id)
  }

  /** `PUT /jobs/:id` without a state, on a job that is over: 403 with its final status, or nothing learnt. */
  private async endedAs(
    runner: RunnerEndpoint,
    job: JobRef,
    signal: AbortSignal | undefined,
  ): Promise<{status?: string}> {
    try {
      const res = await this.opts.http.request({
        method: 'PUT',
        url: api(runner.url, `/jobs/${job.id}`),
        headers: {...JSON_HEADERS, 'job-token': job.token},
        body: JSON.stringify({token: job.token}),
        ...(signal ? {signal} : {}),
      })
      const status = res.headers['job-status']
      return res.status === 403 && status && FINISHED_JOB_STATUSES.has(status) ? {status} : {}
    } catch {
      return {}
    }
  }

  async reportFailed(
    runner: RunnerEndpoint,
    job: JobRef,
    o: {reason?: string; exitCode?: number; signal?: AbortSignal} = {},
  ): Promise<'reported' | 'not-running'> {
    const endpoint = 'PUT /jobs/:id'
    const res = await this.transport.call(
      endpoint,
      {
        method: 'PUT',
        url: api(runner.url, `/jobs/${job.id}`),
        headers: {...JSON_HEADERS, 'job-token': job.token},
        body: JSON.stringify({
          token: job.token,
          state: 'failed',
          failure_reason: o.reason ?? 'script_failure',
          exit_code: o.exitCode ?? 103,
          info: this.infoFor(runner),
        }),
      },
      o.signal,
      runner,
      job.id,
    )
    if (res.status === 200 || res.status === 202) return 'reported'
    if (res.status === 403 && jobNotRunning(res)) return 'not-running'
    throw this.transport.failure(endpoint, res, runner, job.id)
  }

  async appendLog(
    runner: RunnerEndpoint,
    job: JobRef,
    offset: number,
    text: string,
    o: {signal?: AbortSignal} = {},
  ): Promise<{offset: number} | 'not-running'> {
    const endpoint = 'PATCH /jobs/:id/trace'
    const bytes = new TextEncoder().encode(text)
    if (bytes.length === 0) return {offset}
    let start = offset
    // One re-sync on 416: GitLab tells us where the log really ends, we append from there.
    for (let round = 0; round < 2; round++) {
      const res = await this.transport.call(
        endpoint,
        {
          method: 'PATCH',
          url: api(runner.url, `/jobs/${job.id}/trace`),
          // Content-Range end is inclusive; GitLab only trusts the start.
          headers: {
            'content-type': 'text/plain',
            'job-token': job.token,
            'content-range': `${start}-${start + bytes.length - 1}`,
          },
          body: bytes,
        },
        o.signal,
        runner,
        job.id,
      )
      if (res.status === 202 || res.status === 200) {
        const end = rangeEnd(res.headers.range)
        return {offset: end ?? start + bytes.length}
      }
      if (res.status === 403) return 'not-running'
      if (res.status === 416 && round === 0) {
        const end = rangeEnd(res.headers.range)
        if (end !== undefined) {
          start = end
          continue
        }
      }
      throw this.transport.failure(endpoint, res, runner, job.id)
    }
    throw new CoordinatorError('unexpected', endpoint, '416 again after re-syncing the log offset', {
      status: 416,
      jobId: job.id,
      ...who(runner),
    })
  }

  async readLog(
    url: string,
    projectId: number,
    jobId: number,
    privateToken: string,
    o: {signal?: AbortSignal} = {},
  ): Promise<string> {
    const endpoint = 'GET /projects/:id/jobs/:job_id/trace'
    const res = await this.transport.call(
      endpoint,
      {
        method: 'GET',
        url: api(url, `/projects/${projectId}/jobs/${jobId}/trace`),
        headers: {'private-token': privateToken},
      },
      o.signal,
      undefined,
      jobId,
    )
    if (res.status === 200) return res.body
    // GitLab answers 200 with an empty body while a job has no log yet; 404 means the token's user
    // does not see the project (not a member) or the job: every watch with this token would fail.
    if (res.status === 401 || res.status === 403 || res.status === 404) {
      throw new CoordinatorError(
        'unexpected',
        endpoint,
        `${res.status}: the job-log watch token cannot read this job's log (its user must be a member of project ${projectId}, Reporter or more, with the read_api scope) (${gitlabMessage(res)})`,
        {status: res.status, jobId},
      )
    }
    throw this.transport.failure(endpoint, res, undefined, jobId)
  }

  async groupAttributes(
    url: string,
    groupPath: string,
    privateToken: string,
    o: {signal?: AbortSignal} = {},
  ): Promise<Record<string, string>> {
    const endpoint = 'GET /groups/:id/custom_attributes'
    const res = await this.transport.call(
      endpoint,
      {
        method: 'GET',
        url: api(url, `/groups/${encodeURIComponent(groupPath)}/custom_attributes`),
        headers: {accept: 'application/json', 'private-token': privateToken},
      },
      o.signal,
    )
    if (res.status === 200) {
      const list = parseJson<unknown>(res.body)
      if (!Array.isArray(list))
        throw new CoordinatorError('unexpected', endpoint, `200 but not a list of attributes (${describeBody(res)})`, {
          status: 200,
        })
      const out: Record<string, string> = {}
      for (const a of list) {
        if (a && typeof a === 'object' && typeof (a as {key?: unknown}).key === 'string')
          out[(a as {key: string}).key] = String((a as {value?: unknown}).value ?? '')
      }
      return out
    }
    if (res.status === 404)
      throw new CoordinatorError('unexpected', endpoint, `404: group '${groupPath}' not found`, {status: 404})
    if (res.status === 401 || res.status === 403) {
      throw new CoordinatorError(
        'unexpected',
        endpoint,
        `${res.status}: the attributes token cannot read custom attributes (an administrator token is needed)`,
        {status: res.status},
      )
    }
    throw this.transport.failure(endpoint, res)
  }

  register(url: string, o: RegisterOptions & {signal?: AbortSignal}): Promise<Registration> {
    return this.admin.register(url, o)
  }

  verify(url: string, token: string, o: {signal?: AbortSignal} = {}): Promise<Registration> {
    return this.admin.verify(url, token, o)
  }

  unregister(url: string, token: string, o: {signal?: AbortSignal; wholeRunner?: boolean} = {}): Promise<void> {
    return this.admin.unregister(url, token, o)
  }
}

/** 403 on a job-token call because the job is over (any wording GitLab used over the years). */
function jobNotRunning(res: HttpResponse): boolean {
  const status = res.headers['job-status']
  if (status && status !== 'running' && status !== 'canceling') return true
  return /job is not (running|processing)/i.test(gitlabMessage(res))
}

function rangeEnd(range: string | undefined): number | undefined {
  const m = range ? /-(\d+)\s*$/.exec(range) : null
  return m ? Number(m[1]) : undefined
}

import {CoordinatorError} from './coordinator-errors.js'
import type {RegisterOptions, Registration} from './coordinator.js'
import {api, describeBody, gitlabMessage, JSON_HEADERS, parseJson, type GitLabTransport} from './gitlab-transport.js'
import type {HttpResponse} from './http-port.js'
import {runnerInfoBody, type RunnerInfo} from './runner-info.js'

/**
 * The runner administration calls (`register`, `verify`, `unregister`): what `register`, `verify`
 * and `unregister` commands ask of GitLab, apart from the job calls of the daemon.
 */
export class GitLabRunnerAdmin {
  constructor(
    private readonly transport: GitLabTransport,
    private readonly opts: {info: RunnerInfo; systemId: string},
  ) {}

  async register(url: string, o: RegisterOptions & {signal?: AbortSignal}): Promise<Registration> {
    const endpoint = 'POST /runners'
    const res = await this.transport.call(
      endpoint,
      {
        method: 'POST',
        url: api(url, '/runners'),
        headers: {...JSON_HEADERS, 'runner-token': o.registrationToken},
        body: JSON.stringify({
          token: o.registrationToken,
          description: o.description,
          info: {...runnerInfoBody(this.opts.info, o.innerRunner), name: this.opts.info.name},
          paused: o.paused ?? false,
          locked: o.locked ?? false,
          run_untagged: o.runUntagged ?? (o.tagList === undefined || o.tagList.length === 0),
          ...(o.tagList?.length ? {tag_list: o.tagList.join(',')} : {}),
          ...(o.maximumTimeout === undefined ? {} : {maximum_timeout: o.maximumTimeout}),
        }),
      },
      o.signal,
    )
    if (res.status === 201) return parseRegistration(endpoint, res)
    if (res.status === 403)
      throw new CoordinatorError('token_revoked', endpoint, 'the registration token was refused (403)', {status: 403})
    if (res.status === 410) {
      throw new CoordinatorError(
        'unexpected',
        endpoint,
        'registration tokens are disabled on this instance (410): create the runner in GitLab and register with its glrt- authentication token',
        {status: 410},
      )
    }
    throw this.transport.failure(endpoint, res)
  }

  async verify(url: string, token: string, o: {signal?: AbortSignal} = {}): Promise<Registration> {
    const endpoint = 'POST /runners/verify'
    const res = await this.transport.call(
      endpoint,
      {
        method: 'POST',
        url: api(url, '/runners/verify'),
        headers: {...JSON_HEADERS, 'runner-token': token},
        body: JSON.stringify({token, system_id: this.opts.systemId, info: runnerInfoBody(this.opts.info)}),
      },
      o.signal,
    )
    if (res.status === 200 || res.status === 201) return parseRegistration(endpoint, res, token)
    if (res.status === 403)
      throw new CoordinatorError(
        'token_revoked',
        endpoint,
        'the runner authentication token is unknown, expired or revoked (403)',
        {status: 403},
      )
    if (res.status === 422)
      throw new CoordinatorError('token_revoked', endpoint, `422: ${gitlabMessage(res)}`, {status: 422})
    throw this.transport.failure(endpoint, res)
  }

  async unregister(url: string, token: string, o: {signal?: AbortSignal; wholeRunner?: boolean} = {}): Promise<void> {
    const managers = token.startsWith('glrt-') && !o.wholeRunner
    const endpoint = managers ? 'DELETE /runners/managers' : 'DELETE /runners'
    const res = await this.transport.call(
      endpoint,
      {
        method: 'DELETE',
        url: api(url, managers ? '/runners/managers' : '/runners'),
        headers: {...JSON_HEADERS, 'runner-token': token},
        body: JSON.stringify(managers ? {token, system_id: this.opts.systemId} : {token}),
      },
      o.signal,
    )
    if (res.status === 204 || res.status === 200) return
    if (res.status === 403)
      throw new CoordinatorError('token_revoked', endpoint, 'the runner token is unknown or revoked (403)', {
        status: 403,
      })
    throw this.transport.failure(endpoint, res)
  }
}

function parseRegistration(endpoint: string, res: HttpResponse, fallbackToken?: string): Registration {
  const r = parseJson<{id?: unknown; token?: unknown; token_expires_at?: unknown}>(res.body)
  const token = typeof r?.token === 'string' ? r.token : fallbackToken
  if (!r || typeof r.id !== 'number' || !token) {
    throw new CoordinatorError(
      'unexpected',
      endpoint,
      `${res.status} without a runner id and token (${describeBody(res)})`,
      {status: res.status},
    )
  }
  return {id: r.id, token, tokenExpiresAt: typeof r.token_expires_at === 'string' ? r.token_expires_at : null}
}

import {stringify} from 'smol-toml'
import {z} from 'zod'

import type {RunnerConfig} from '../../core/config/config-types.js'
import type {HttpClient, HttpResponse} from '../../core/coordinator/http-port.js'
import {HttpTransportError} from '../../core/coordinator/http-port.js'
import {PaasRunnerError} from '../../core/errors.js'
import {
  jobIdFromResourceName, resourceName, resourceNamePrefix,
  type DecommissionOutcome, type Executor, type ExecutorDeps, type Json, type OwnedResource, type Resource,
} from '../../core/executor.js'
import type {JobPayload} from '../../core/job-payload.js'
import type {Flavor} from '../../core/quota/flavor-weight.js'
import {LOCAL_FLAVORS, type LocalDockerConfig} from './local-docker-config.js'
import {DEFAULT_MAIN_IMAGE, dockerfile, innerRunnerConfig} from '../clever-docker/build-context.js'
import {amendForDependencyProxy} from '../clever-docker/docker-image.js'
import {tar} from './tar.js'

/** The socket path for a runner, and where it came from. */
export function dockerSocket(runner: RunnerConfig<LocalDockerConfig>, env: NodeJS.ProcessEnv = process.env): string {
  const docker = runner.forwarded.docker as {host?: unknown} | undefined
  const host = runner.executorConfig.host ?? (typeof docker?.host === 'string' ? docker.host : undefined) ?? env.DOCKER_HOST ?? 'unix:///var/run/docker.sock'
  if (!host.startsWith('unix://')) throw new PaasRunnerError('docker_host', `only Unix domain sockets are supported for the Docker engine, got ${host}`)
  return host.slice('unix://'.length)
}

/**
 * Each job on the local Docker engine, through its API on a unix socket: provision builds the
 * image `hpd-job-<runner>-<job>` from the same build context as clever-docker, launch creates and
 * starts a container with the Docker socket mounted and returns once it runs, decommission
 * removes the container and the image.
 */
// API 1.41 is what Docker Engine 20.10 (Debian's docker.io) speaks: it refuses any newer version
// with a 400, while newer engines still accept 1.41. Nothing used here needs more.
const API = 'http://docker/v1.41'

export class LocalDockerExecutor implements Executor {
  readonly name = 'local-docker'
  readonly uniqueName: string
  private readonly socket: string
  private httpClient: HttpClient | undefined

  constructor(
    private readonly runner: RunnerConfig<LocalDockerConfig>,
    private readonly deps: ExecutorDeps,
  ) {
    // Docker image names are lower case.
    this.uniqueName = runner.uniqueName.toLowerCase()
    this.socket = dockerSocket(runner)
  }

  private async http(): Promise<HttpClient> {
    this.httpClient ??= this.deps.http ?? new (await import('../../adapters/http/undici-http-client.js')).UndiciHttpClient({socketPath: this.socket})
    return this.httpClient
  }

  private async call(what: string, method: 'GET' | 'POST' | 'DELETE', path: string, body?: string | Uint8Array, contentType = 'application/json', signal?: AbortSignal): Promise<HttpResponse> {
    try {
      return await (await this.http()).request({method, url: `${API}${path}`, headers: {'content-type': contentType}, ...(body === undefined ? {} : {body}), ...(signal ? {signal} : {}), headersTimeoutMs: 600_000, bodyTimeoutMs: 600_000})
    } catch (error) {
      if (error instanceof HttpTransportError) {
        const why = error.code === 'ENOENT' ? 'no such socket' : error.code === 'EACCES' ? 'permission denied' : error.code === 'ECONNREFUSED' ? 'connection refused' : error.message
        throw new PaasRunnerError('docker_unreachable', `${what}: cannot reach the Docker engine at ${this.socket}: ${why}`, {retryable: true})
      }
      throw error
    }
  }

  async flavors(): Promise<ReadonlyMap<string, Flavor>> {
    return new Map(LOCAL_FLAVORS.map((f) => [f.name, f]))
  }

  async minRequestableWeight(): Promise<number> {
    return 1
  }

  async expectedWeight(): Promise<number> {
    return 1
  }

  private resource(name: string, launched: boolean): Resource {
    return {id: name, name, weight: 1, flavor: 'M', launched, data: {}}
  }

  /** Builds the job's image. Idempotent: an existing image is reused. */
  async provision(job: JobPayload, opts: {signal?: AbortSignal; onCreated?: (r: Resource) => Promise<void>}): Promise<Resource> {
    opts.signal?.throwIfAborted()
    const name = resourceName(this.uniqueName, job.id)
    const existing = await this.call('inspect image', 'GET', `/images/${encodeURIComponent(name)}/json`, undefined, undefined, opts.signal)
    if (existing.status !== 200) {
      const context = tar({
        Dockerfile: dockerfile(this.runner.mainImage ?? DEFAULT_MAIN_IMAGE),
        'runner.toml': `${stringify(innerRunnerConfig(this.runner))}\n`,
        'job.json': JSON.stringify(amendForDependencyProxy(job)),
      })
      const res = await this.call('build', 'POST', `/build?t=${encodeURIComponent(name)}&rm=1&forcerm=1&labels=${encodeURIComponent(JSON.stringify({'heptapod-paas-runner.job': String(job.id)}))}`, context, 'application/x-tar', opts.signal)
      // Build and pull errors arrive inside a 200 stream of JSON lines.
      const error = res.status === 200 ? streamError(res.body) : dockerMessage(res)
      if (error) throw new PaasRunnerError('docker_build', `docker build of ${name} failed: ${error}`, {resourceId: name})
    }
    const r = this.resource(name, false)
    await opts.onCreated?.(r)
    return r
  }

  /** Creates and starts the container; returns once it runs. Idempotent. */
  async launch(resource: Resource, job: JobPayload, opts: {signal?: AbortSignal}): Promise<Resource> {
    if (resource.launched) return resource
    const create = await this.call('create container', 'POST', `/containers/create?name=${encodeURIComponent(resource.name)}`, JSON.stringify({
      Image: resource.name,
      Labels: {'heptapod-paas-runner.job': String(job.id)},
      HostConfig: {Binds: [`${this.socket}:/var/run/docker.sock`]},
    }), 'application/json', opts.signal)
    if (create.status !== 201 && create.status !== 409) throw new PaasRunnerError('docker_create', `cannot create the container ${resource.name}: ${dockerMessage(create)}`, {resourceId: resource.id})
    const start = await this.call('start container', 'POST', `/containers/${encodeURIComponent(resource.name)}/start`, undefined, undefined, opts.signal)
    if (start.status !== 204 && start.status !== 304) throw new PaasRunnerError('docker_start', `cannot start the container ${resource.name}: ${dockerMessage(start)}`, {resourceId: resource.id})
    return {...resource, launched: true}
  }

  /** Removes the container (forced) then the image; `absent` when neither existed. */
  async decommission(resource: Resource, opts: {signal?: AbortSignal}): Promise<DecommissionOutcome> {
    const c = await this.call('remove container', 'DELETE', `/containers/${encodeURIComponent(resource.name)}?force=true&v=true`, undefined, undefined, opts.signal)
    if (c.status !== 204 && c.status !== 404) throw new PaasRunnerError('docker_rm', `cannot remove the container ${resource.name}: ${dockerMessage(c)}`, {resourceId: resource.id, retryable: true})
    const i = await this.call('remove image', 'DELETE', `/images/${encodeURIComponent(resource.name)}?force=true`, undefined, undefined, opts.signal)
    if (i.status !== 200 && i.status !== 404) throw new PaasRunnerError('docker_rmi', `cannot remove the image ${resource.name}: ${dockerMessage(i)}`, {resourceId: resource.id, retryable: true})
    return c.status === 404 && i.status === 404 ? 'absent' : 'deleted'
  }

  async listOwned(opts: {signal?: AbortSignal}): Promise<OwnedResource[]> {
    const prefix = resourceNamePrefix(this.uniqueName)
    const names = new Set<string>()
    const images = await this.call('list images', 'GET', `/images/json?filters=${encodeURIComponent(JSON.stringify({reference: [`${prefix}*`]}))}`, undefined, undefined, opts.signal)
    for (const img of JSON.parse(images.body || '[]') as Array<{RepoTags?: string[] | null}>) {
      for (const t of img.RepoTags ?? []) names.add(t.replace(/:[^:/]+$/, ''))
    }
    const containers = await this.call('list containers', 'GET', `/containers/json?all=true&filters=${encodeURIComponent(JSON.stringify({name: [prefix]}))}`, undefined, undefined, opts.signal)
    for (const c of JSON.parse(containers.body || '[]') as Array<{Names?: string[]}>) {
      for (const n of c.Names ?? []) names.add(n.replace(/^\//, ''))
    }
    return [...names]
      .filter((n) => n.startsWith(prefix))
      .map((n) => {
        const jobId = jobIdFromResourceName(this.uniqueName, n)
        return {id: n, name: n, ...(jobId === undefined ? {} : {jobId}), resource: this.resource(n, false)}
      })
  }

  serialise(r: Resource): Json {
    return {id: r.id, name: r.name, launched: r.launched}
  }

  /** Also reads the original's dump: the image name as a bare string. */
  restore(dump: Json): Resource {
    if (typeof dump === 'string' && dump.startsWith('hpd-job-')) return this.resource(dump, true)
    const d = z.object({id: z.string(), name: z.string(), launched: z.boolean()}).parse(dump)
    return this.resource(d.name, d.launched)
  }
}

function dockerMessage(res: HttpResponse): string {
  try {
    return (JSON.parse(res.body) as {message?: string}).message ?? `HTTP ${res.status}`
  } catch {
    return `HTTP ${res.status}`
  }
}

function streamError(body: string): string | undefined {
  for (const line of body.split('\n')) {
    if (!line.trim()) continue
    try {
      const j = JSON.parse(line) as {error?: string; errorDetail?: {message?: string}}
      if (j.error || j.errorDetail) return j.errorDetail?.message ?? j.error
    } catch {
      // progress output that is not JSON
    }
  }
  return undefined
}

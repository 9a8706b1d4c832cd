import {gzipSync} from 'node:zlib'

import {
  JobRejectedError,
  PaasRunnerError,
  buildContextFiles,
  dockerfile,
  dockerName,
  jobIdFromResourceName,
  ownerFromLabels,
  ownerLabels,
  requireOwner,
  resourceName,
  resourceNamePrefix,
  sameOwner,
  type DecommissionOutcome,
  type Executor,
  type ExecutorDeps,
  type Flavor,
  type HttpClient,
  type JobPayload,
  type Json,
  type OwnedListing,
  type OwnerMarker,
  type Resource,
  type RunnerConfig,
} from '@heptapod-paas-runner/plugin-api'
import {z} from 'zod'

import {DockerEngineClient, labelFilter, type Labels} from './docker-engine-client.js'
import {DEFAULT_NETWORK_MODE, LOCAL_FLAVORS, type LocalDockerConfig} from './local-docker-config.js'
import {tar} from './tar.js'

/** How long the build of a canceled job may go on before the connection is cut (see provision). */
export const ABORTED_BUILD_GRACE_MS = 60_000

/** Label naming the job of an image or container, next to the ownership labels. */
export const JOB_LABEL = 'heptapod-paas-runner.job'

/** The socket path for a runner, and where it came from. */
export function dockerSocket(runner: RunnerConfig<LocalDockerConfig>, env: NodeJS.ProcessEnv = process.env): string {
  const docker = runner.forwarded.docker as {host?: unknown} | undefined
  const host =
    runner.executorConfig.host ??
    (typeof docker?.host === 'string' ? docker.host : undefined) ??
    env.DOCKER_HOST ??
    'unix:///var/run/docker.sock'
  if (!host.startsWith('unix://'))
    throw new PaasRunnerError(
      'docker_host',
      `only Unix domain sockets are supported for the Docker engine, got ${host}`,
    )
  return host.slice('unix://'.length)
}

/**
 * The SDK's Dockerfile with our labels right after `FROM`: every image of the build,
 * intermediate ones included, then carries them, so what an interrupted build leaves is ours
 * to find and prune.
 */
export function labelledDockerfile(baseImage: string, labels: Labels): string {
  return dockerfile(baseImage, labels)
}

/**
 * Each job on the local Docker engine, through its API on a unix socket: provision builds the
 * image `hpd-job-<runner>-<job>` from the same build context as clever-docker, launch creates and
 * starts a container (host network, Docker socket mounted) and returns once it runs,
 * decommission removes the container, the image and what its build left.
 */
export class LocalDockerExecutor implements Executor {
  readonly name = 'local-docker'
  readonly uniqueName: string
  private readonly socket: string
  private readonly engine: DockerEngineClient
  private httpClient: HttpClient | undefined

  constructor(
    private readonly runner: RunnerConfig<LocalDockerConfig>,
    private readonly deps: ExecutorDeps,
  ) {
    // Its resources are image and container names: a short token may hold `_-`, which an image name may not.
    this.uniqueName = dockerName(runner.uniqueName)
    this.socket = dockerSocket(runner)
    this.engine = new DockerEngineClient(this.socket, () => this.http(), deps.onApiExchange)
  }

  private async http(): Promise<HttpClient> {
    this.httpClient ??=
      this.deps.http ??
      new (await import('@heptapod-paas-runner/plugin-api/undici')).UndiciHttpClient({socketPath: this.socket})
    return this.httpClient
  }

  /** The Engine API version in use (negotiated on first use). */
  apiVersion(signal?: AbortSignal): Promise<string> {
    return this.engine.apiVersion(signal)
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

  private owner(): OwnerMarker {
    return requireOwner(this.deps.owner)
  }

  /** Ownership labels (owner-marker.ts) and the job id, on every image and container. */
  private labels(jobId: number): Labels {
    return {...ownerLabels(this.owner()), [JOB_LABEL]: String(jobId)}
  }

  /** Carries another daemon's or runner's marker: never ours to reuse or delete. */
  private foreign(labels: Labels): boolean {
    const marker = ownerFromLabels(labels)
    return marker !== undefined && !sameOwner(marker, this.owner())
  }

  private resource(name: string, launched: boolean): Resource {
    return {id: name, name, weight: 1, flavor: 'M', launched, data: {}}
  }

  /** Builds the job's image. Idempotent: an image of that name with our marker is reused. */
  async provision(
    job: JobPayload,
    opts: {signal?: AbortSignal; onCreated?: (r: Resource) => Promise<void>},
  ): Promise<Resource> {
    opts.signal?.throwIfAborted()
    const owner = this.owner()
    const name = resourceName(this.uniqueName, job.id)
    const existing = await this.engine.inspectImage(name, opts.signal)
    if (existing && !sameOwner(ownerFromLabels(existing.labels), owner)) {
      throw new JobRejectedError(
        'name_taken',
        `an image named ${name} exists but is not ours (no ownership label of this runner): it is left alone and this job cannot run`,
        {jobId: job.id, resourceId: name},
      )
    }
    if (!existing) {
      const labels = this.labels(job.id)
      const context = gzipSync(tar({...buildContextFiles(this.runner, job, {labels})}))
      await this.buildLettingStepsFinish(name, context, labels, opts.signal)
    }
    const r = this.resource(name, false)
    await opts.onCreated?.(r)
    return r
  }

  /**
   * A build whose job is canceled is let finish, for ABORTED_BUILD_GRACE_MS at most: the classic
   * builder goes on with the step in hand when its client leaves, so cutting the connection
   * would leave a step image behind, after our decommission has run. A finished build is
   * returned as usual (the host deletes it: the job is canceled); one still running after the
   * grace is cut off, and what it leaves is pruned by the decommission or the orphan sweep.
   */
  private async buildLettingStepsFinish(
    name: string,
    context: Uint8Array,
    labels: Labels,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const cut = new AbortController()
    const done = new AbortController()
    const onAbort = (): void => {
      this.deps.sleep(ABORTED_BUILD_GRACE_MS, done.signal).then(
        () => cut.abort(signal?.reason),
        () => {},
      )
    }
    signal?.addEventListener('abort', onAbort, {once: true})
    try {
      await this.engine.build(name, context, labels, cut.signal)
    } finally {
      done.abort()
      signal?.removeEventListener('abort', onAbort)
    }
  }

  /**
   * Creates and starts the container; returns once it runs. Idempotent: a container of ours
   * that was started once (it may have finished since) is never started again.
   */
  async launch(resource: Resource, job: JobPayload, opts: {signal?: AbortSignal}): Promise<Resource> {
    if (resource.launched) return resource
    const name = resource.name
    const {created} = await this.engine.createContainer(
      name,
      {
        Image: name,
        Labels: this.labels(job.id),
        HostConfig: {
          NetworkMode: this.runner.executorConfig.network_mode ?? DEFAULT_NETWORK_MODE,
          // The inner runner starts the job's containers next to its own.
          Binds: [`${this.socket}:/var/run/docker.sock`],
        },
      },
      opts.signal,
    )
    if (!created) {
      const c = await this.engine.inspectContainer(name, opts.signal)
      if (!c)
        throw new PaasRunnerError('docker_create', `the container ${name} was in the way, then gone: will try again`, {
          jobId: job.id,
          resourceId: name,
          retryable: true,
        })
      if (!sameOwner(ownerFromLabels(c.labels), this.owner())) {
        throw new JobRejectedError(
          'name_taken',
          `a container named ${name} exists but is not ours (no ownership label of this runner): it is left alone and this job cannot run`,
          {jobId: job.id, resourceId: name},
        )
      }
      if (c.status !== 'created') return {...resource, launched: true}
    }
    await this.engine.startContainer(name, opts.signal)
    return {...resource, launched: true}
  }

  /**
   * Force-removes the container (a running job stops at once), then the image with the build
   * cache it alone uses, then dangling images of this job (an interrupted build). A container or
   * image of that name with another owner's marker is left alone. `absent` when nothing was there.
   */
  async decommission(resource: Resource, opts: {signal?: AbortSignal}): Promise<DecommissionOutcome> {
    const name = resource.name
    let removed = false
    const container = await this.engine.inspectContainer(name, opts.signal)
    if (container && this.foreign(container.labels)) {
      this.deps.log.warn("a container of that name carries another owner's marker: left alone", {resource: name})
    } else if (container) {
      removed = (await this.engine.removeContainer(name, opts.signal)) || removed
    }
    const image = await this.engine.inspectImage(name, opts.signal)
    if (image && this.foreign(image.labels)) {
      this.deps.log.warn("an image of that name carries another owner's marker: left alone", {resource: name})
    } else if (image) {
      removed = (await this.engine.removeImage(name, opts.signal)) || removed
    }
    const jobId = jobIdFromResourceName(this.uniqueName, name)
    if (jobId !== undefined)
      removed = (await this.engine.pruneDanglingImages(this.labels(jobId), opts.signal)) > 0 || removed
    return removed ? 'deleted' : 'absent'
  }

  /**
   * Owned: images (a dangling one by its job label) and containers whose labels carry our marker,
   * found with label filters. Unmarked: those named `hpd-job-<unique name>-…` without any marker.
   */
  async listOwned(opts: {signal?: AbortSignal}): Promise<OwnedListing> {
    const ours = {label: labelFilter(ownerLabels(this.owner()))}
    const prefix = resourceNamePrefix(this.uniqueName)
    const owned = new Set<string>()
    for (const img of await this.engine.listImages(ours, opts.signal)) {
      const tags = (img.RepoTags ?? []).filter((t) => t !== '<none>:<none>').map(untag)
      const job = Number(img.Labels[JOB_LABEL])
      if (tags.length === 0 && Number.isSafeInteger(job)) owned.add(resourceName(this.uniqueName, job))
      for (const t of tags) owned.add(t)
    }
    for (const c of await this.engine.listContainers(ours, opts.signal))
      for (const n of c.Names ?? []) owned.add(n.replace(/^\//, ''))
    const unmarked = new Set<string>()
    for (const img of await this.engine.listImages({reference: [`${prefix}*`]}, opts.signal)) {
      if (ownerFromLabels(img.Labels)) continue
      for (const t of (img.RepoTags ?? []).map(untag)) if (t.startsWith(prefix) && !owned.has(t)) unmarked.add(t)
    }
    for (const c of await this.engine.listContainers({name: [`^/${prefix}`]}, opts.signal)) {
      if (ownerFromLabels(c.Labels)) continue
      for (const n of (c.Names ?? []).map((x) => x.replace(/^\//, '')))
        if (n.startsWith(prefix) && !owned.has(n)) unmarked.add(n)
    }
    const ids = (n: string) => {
      const jobId = jobIdFromResourceName(this.uniqueName, n)
      return {id: n, name: n, ...(jobId === undefined ? {} : {jobId})}
    }
    return {
      owned: [...owned].map((n) => ({...ids(n), resource: this.resource(n, false)})),
      unmarked: [...unmarked].map(ids),
    }
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

/** `name:tag` → `name` (a registry port is not a tag). */
function untag(ref: string): string {
  return ref.replace(/:[^:/]+$/, '')
}

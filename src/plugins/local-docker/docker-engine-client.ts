import {z} from 'zod'

import {
  PaasRunnerError,
  isHttpTransportError,
  type HttpClient,
  type HttpResponse,
} from '@heptapod-paas-runner/plugin-api'

import {negotiateApiVersion, versionAnswerSchema} from './docker-api-version.js'

/** Labels as the engine returns them (`null` when there are none). */
const labelsSchema = z
  .record(z.string(), z.string())
  .nullish()
  .transform((l) => l ?? {})
const imageInspectSchema = z.object({Id: z.string(), Config: z.object({Labels: labelsSchema}).nullish()})
const containerInspectSchema = z.object({
  Id: z.string(),
  Config: z.object({Labels: labelsSchema}).nullish(),
  State: z.object({Status: z.string(), Running: z.boolean(), ExitCode: z.number().optional()}),
})
const imageSummarySchema = z.object({Id: z.string(), RepoTags: z.array(z.string()).nullish(), Labels: labelsSchema})
const containerSummarySchema = z.object({
  Id: z.string(),
  Names: z.array(z.string()).nullish(),
  Labels: labelsSchema,
  State: z.string().optional(),
})
const errorAnswerSchema = z.object({message: z.string()})
const buildLineSchema = z.object({
  stream: z.string().optional(),
  error: z.string().optional(),
  errorDetail: z.object({message: z.string().optional()}).optional(),
  aux: z.object({ID: z.string()}).optional(),
})

export type Labels = Record<string, string>
export type ImageSummary = z.infer<typeof imageSummarySchema>
export type ContainerSummary = z.infer<typeof containerSummarySchema>
export interface ContainerState {
  id: string
  labels: Labels
  status: string
  running: boolean
  exitCode?: number
}

/** Docker's list filters: `{"label": ["k=v", …], "reference": […], …}`. */
export type Filters = Record<string, string[]>

interface Call {
  /** What the call does, for error messages. */
  what: string
  /** Endpoint pattern for metrics (`GET /images/:name/json`). */
  endpoint: string
  method: 'GET' | 'POST' | 'DELETE'
  /** Path after the version prefix, with its query string. */
  path: string
  body?: string | Uint8Array
  contentType?: string
  signal?: AbortSignal | undefined
  timeoutMs?: number
}

const DEFAULT_TIMEOUT_MS = 120_000
/** A build may pull its base image first. */
const BUILD_TIMEOUT_MS = 1_800_000

/**
 * The Docker Engine API calls local-docker makes, over a unix socket. The API version is
 * negotiated once (GET /version), as the Docker clients do; every answer's status is checked
 * before its body is read, and every body goes through a schema. Vendor errors become
 * PaasRunnerErrors here, with the engine's own message.
 */
export class DockerEngineClient {
  private version: Promise<string> | undefined

  constructor(
    readonly socket: string,
    private readonly http: () => Promise<HttpClient>,
    private readonly onApiExchange?: (endpoint: string, outcome: number | 'network') => void,
  ) {}

  /** The negotiated API version. Asked once; a failure is not kept, so a later call asks again. */
  apiVersion(signal?: AbortSignal): Promise<string> {
    this.version ??= (async () => {
      const res = await this.send(
        {what: 'ask the engine its version', endpoint: 'GET /version', method: 'GET', path: '/version', signal},
        '',
      )
      const answer = parse(
        ok(res, [200], 'docker_version', `cannot ask the Docker engine at ${this.socket} its version`),
        versionAnswerSchema,
        `the version answer of the Docker engine at ${this.socket}`,
      )
      return negotiateApiVersion(answer, this.socket)
    })()
    this.version.catch(() => (this.version = undefined))
    return this.version
  }

  /** One versioned call. Transport failures become `docker_unreachable` (retryable). */
  private async call(c: Call): Promise<HttpResponse> {
    return this.send(c, `/v${await this.apiVersion(c.signal)}`)
  }

  private async send(c: Call, prefix: string): Promise<HttpResponse> {
    const http = await this.http()
    try {
      const timeout = c.timeoutMs ?? DEFAULT_TIMEOUT_MS
      const res = await http.request({
        method: c.method,
        url: `http://docker${prefix}${c.path}`,
        headers: {'content-type': c.contentType ?? 'application/json'},
        ...(c.body === undefined ? {} : {body: c.body}),
        ...(c.signal ? {signal: c.signal} : {}),
        headersTimeoutMs: timeout,
        bodyTimeoutMs: timeout,
      })
      this.onApiExchange?.(c.endpoint, res.status)
      return res
    } catch (error) {
      if (isHttpTransportError(error)) {
        this.onApiExchange?.(c.endpoint, 'network')
        const why =
          error.code === 'ENOENT'
            ? 'no such socket'
            : error.code === 'EACCES'
              ? 'permission denied'
              : error.code === 'ECONNREFUSED'
                ? 'connection refused'
                : error.message
        throw new PaasRunnerError(
          'docker_unreachable',
          `${c.what}: cannot reach the Docker engine at ${this.socket}: ${why}`,
          {retryable: true, cause: error},
        )
      }
      throw error
    }
  }

  /** Image labels, or undefined when there is no such image. */
  async inspectImage(name: string, signal?: AbortSignal): Promise<{id: string; labels: Labels} | undefined> {
    const res = await this.call({
      what: `inspect image ${name}`,
      endpoint: 'GET /images/:name/json',
      method: 'GET',
      path: `/images/${encodeURIComponent(name)}/json`,
      signal,
    })
    if (res.status === 404) return undefined
    const i = parse(
      ok(res, [200], 'docker_inspect', `cannot inspect the image ${name}`),
      imageInspectSchema,
      `the inspection of image ${name}`,
    )
    return {id: i.Id, labels: i.Config?.Labels ?? {}}
  }

  /**
   * Builds `tag` from a tar context (gzip allowed) with the classic builder, removing its
   * intermediate containers even on failure. Build errors arrive inside a 200 stream of JSON
   * lines: they throw `docker_build` with the engine's message. Returns the image id.
   */
  async build(tag: string, context: Uint8Array, labels: Labels, signal?: AbortSignal): Promise<string> {
    const q = new URLSearchParams({t: tag, rm: '1', forcerm: '1', version: '1', labels: JSON.stringify(labels)})
    const res = await this.call({
      what: `build ${tag}`,
      endpoint: 'POST /build',
      method: 'POST',
      path: `/build?${q}`,
      body: context,
      contentType: 'application/x-tar',
      signal,
      timeoutMs: BUILD_TIMEOUT_MS,
    })
    ok(res, [200], 'docker_build', `docker build of ${tag} failed`)
    let id: string | undefined
    for (const line of res.body.split('\n')) {
      if (!line.trim()) continue
      let parsed
      try {
        parsed = buildLineSchema.safeParse(JSON.parse(line))
      } catch {
        continue // not JSON: progress text
      }
      if (!parsed.success) continue
      const l = parsed.data
      if (l.error !== undefined || l.errorDetail !== undefined)
        throw new PaasRunnerError(
          'docker_build',
          `docker build of ${tag} failed: ${l.errorDetail?.message ?? l.error}`,
          {resourceId: tag},
        )
      if (l.aux?.ID) id = l.aux.ID
      const built = /^Successfully built ([0-9a-f]+)/.exec(l.stream ?? '')
      if (built && !id) id = built[1]
    }
    if (!id)
      throw new PaasRunnerError(
        'docker_build',
        `docker build of ${tag} failed: the build output ended without an image`,
        {resourceId: tag, retryable: true},
      )
    return id
  }

  /** Creates a container. `created` false: one of that name exists already (409). */
  async createContainer(
    name: string,
    spec: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<{created: boolean}> {
    const res = await this.call({
      what: `create container ${name}`,
      endpoint: 'POST /containers/create',
      method: 'POST',
      path: `/containers/create?name=${encodeURIComponent(name)}`,
      body: JSON.stringify(spec),
      signal,
    })
    if (res.status === 409) return {created: false}
    ok(res, [201], 'docker_create', `cannot create the container ${name}`)
    return {created: true}
  }

  /** Starts a container; one already running counts as started (304). */
  async startContainer(name: string, signal?: AbortSignal): Promise<void> {
    const res = await this.call({
      what: `start container ${name}`,
      endpoint: 'POST /containers/:name/start',
      method: 'POST',
      path: `/containers/${encodeURIComponent(name)}/start`,
      signal,
    })
    ok(res, [204, 304], 'docker_start', `cannot start the container ${name}`)
  }

  /** A container's labels and state, or undefined when there is no such container. */
  async inspectContainer(name: string, signal?: AbortSignal): Promise<ContainerState | undefined> {
    const res = await this.call({
      what: `inspect container ${name}`,
      endpoint: 'GET /containers/:name/json',
      method: 'GET',
      path: `/containers/${encodeURIComponent(name)}/json`,
      signal,
    })
    if (res.status === 404) return undefined
    const c = parse(
      ok(res, [200], 'docker_inspect', `cannot inspect the container ${name}`),
      containerInspectSchema,
      `the inspection of container ${name}`,
    )
    return {
      id: c.Id,
      labels: c.Config?.Labels ?? {},
      status: c.State.Status,
      running: c.State.Running,
      ...(c.State.ExitCode === undefined ? {} : {exitCode: c.State.ExitCode}),
    }
  }

  /** Force-removes a container (a running one is killed at once) and its anonymous volumes. False when absent. */
  async removeContainer(name: string, signal?: AbortSignal): Promise<boolean> {
    const res = await this.call({
      what: `remove container ${name}`,
      endpoint: 'DELETE /containers/:name',
      method: 'DELETE',
      path: `/containers/${encodeURIComponent(name)}?force=true&v=true`,
      signal,
    })
    if (res.status === 404) return false
    ok(res, [204], 'docker_rm', `cannot remove the container ${name}`, true)
    return true
  }

  /** Removes an image and its untagged parents (the classic builder's cache of it). False when absent. */
  async removeImage(name: string, signal?: AbortSignal): Promise<boolean> {
    const res = await this.call({
      what: `remove image ${name}`,
      endpoint: 'DELETE /images/:name',
      method: 'DELETE',
      path: `/images/${encodeURIComponent(name)}?force=true`,
      signal,
    })
    if (res.status === 404) return false
    ok(res, [200], 'docker_rmi', `cannot remove the image ${name}`, true)
    return true
  }

  /** Removes dangling images that carry all these labels (left by an interrupted or repeated build). */
  async pruneDanglingImages(labels: Labels, signal?: AbortSignal): Promise<number> {
    const filters = JSON.stringify({dangling: ['true'], label: labelFilter(labels)})
    const res = await this.call({
      what: 'prune dangling images',
      endpoint: 'POST /images/prune',
      method: 'POST',
      path: `/images/prune?filters=${encodeURIComponent(filters)}`,
      signal,
    })
    const answer = parse(
      ok(res, [200], 'docker_prune', 'cannot prune dangling images', true),
      z.object({ImagesDeleted: z.array(z.unknown()).nullish()}),
      'the image prune answer',
    )
    return answer.ImagesDeleted?.length ?? 0
  }

  async listImages(filters: Filters, signal?: AbortSignal): Promise<ImageSummary[]> {
    const res = await this.call({
      what: 'list images',
      endpoint: 'GET /images/json',
      method: 'GET',
      path: `/images/json?filters=${encodeURIComponent(JSON.stringify(filters))}`,
      signal,
    })
    return parse(
      ok(res, [200], 'docker_list', 'cannot list images', true),
      z.array(imageSummarySchema),
      'the image list',
    )
  }

  async listContainers(filters: Filters, signal?: AbortSignal): Promise<ContainerSummary[]> {
    const res = await this.call({
      what: 'list containers',
      endpoint: 'GET /containers/json',
      method: 'GET',
      path: `/containers/json?all=true&filters=${encodeURIComponent(JSON.stringify(filters))}`,
      signal,
    })
    return parse(
      ok(res, [200], 'docker_list', 'cannot list containers', true),
      z.array(containerSummarySchema),
      'the container list',
    )
  }
}

/** `["k=v", …]`: Docker ANDs the label filters of one list. */
export function labelFilter(labels: Labels): string[] {
  return Object.entries(labels).map(([k, v]) => `${k}=${v}`)
}

/** The response when its status is expected; else an error with the engine's message. */
function ok(
  res: HttpResponse,
  statuses: readonly number[],
  code: string,
  what: string,
  retryable = false,
): HttpResponse {
  if (statuses.includes(res.status)) return res
  throw new PaasRunnerError(code, `${what}: ${engineMessage(res)}`, {retryable: retryable || res.status >= 500})
}

/** The engine's `{"message": …}`, or the status when the body is something else. */
export function engineMessage(res: HttpResponse): string {
  try {
    const m = errorAnswerSchema.safeParse(JSON.parse(res.body))
    if (m.success) return `${m.data.message} (HTTP ${res.status})`
  } catch {
    // not JSON
  }
  return `HTTP ${res.status}`
}

function parse<T>(res: HttpResponse, schema: z.ZodType<T>, what: string): T {
  let value: unknown
  try {
    value = JSON.parse(res.body)
  } catch {
    throw new PaasRunnerError('docker_answer', `${what} is not JSON (HTTP ${res.status})`, {retryable: true})
  }
  const r = schema.safeParse(value)
  if (!r.success)
    throw new PaasRunnerError(
      'docker_answer',
      `${what} is not what the Docker Engine API documents: ${r.error.issues[0]?.path.join('.') || '(root)'}: ${r.error.issues[0]?.message}`,
      {retryable: true},
    )
  return r.data
}

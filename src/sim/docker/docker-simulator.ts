import {createHash, randomBytes} from 'node:crypto'
import {EventEmitter} from 'node:events'
import {rmSync} from 'node:fs'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import {gunzipSync} from 'node:zlib'

import {untar} from '../../plugins/local-docker/tar.js'
import {Counters, FaultInjector, type Fault} from '../common/faults.js'
import {playFault, readBody, sendJson} from '../common/http-util.js'
import {runFetchedJob, type InnerRunResult} from '../common/inner-runner.js'
import {
  containerNameError,
  labelsMatch,
  logFrame,
  parseFilters,
  parseTag,
  referenceMatches,
  versionError,
} from './docker-sim-rules.js'

export interface SimImage {
  id: string
  tags: string[]
  files: Record<string, Buffer>
  labels: Record<string, string>
}
export interface SimContainer {
  id: string
  name: string
  /** Id of its image. */
  image: string
  state: 'created' | 'running' | 'exited'
  exitCode: number
  binds: string[]
  networkMode: string
  labels: Record<string, string>
  /** What the container printed, one line per entry (stdout). */
  output: string[]
  ran?: InnerRunResult
  kill?: AbortController
  done?: Promise<void>
}

export interface DockerSimulatorOptions {
  /** How long a simulated job runs when it does not say (SIM_JOB_DURATION_MS). */
  jobDurationMs?: number
  /** Newest API version answered (default 1.41, Engine 20.10 as Debian ships it). */
  apiVersion?: string
  /** Oldest API version answered (default 1.12). */
  minApiVersion?: string
}

type Reply = (status: number, value?: unknown) => void

/**
 * The Docker Engine API endpoints the local-docker executor uses, on a unix socket, no kinder
 * than the engine: versioned paths outside [minApiVersion, apiVersion] answer 400, build takes a
 * tar or gzip context (errors inside the 200 JSON stream; an invalid tag is a 400), invalid
 * container names and non-JSON bodies are 400s, labels are kept and filterable, containers can be
 * inspected, stopped, waited for and their logs read (multiplexed), and force-removing a running
 * container kills its job. A started container plays the inner runner with its image's job.json.
 */
export class DockerSimulator extends EventEmitter {
  /** By image id. */
  readonly images = new Map<string, SimImage>()
  /** By container name. */
  readonly containers = new Map<string, SimContainer>()
  readonly faults = new FaultInjector()
  readonly counters = new Counters()
  /** The next builds fail like a pull failure of the base image. */
  failBuilds = 0
  readonly apiVersion: string
  readonly minApiVersion: string
  private readonly server: Server

  constructor(
    readonly socketPath: string,
    private readonly opts: DockerSimulatorOptions = {},
  ) {
    super()
    this.apiVersion = opts.apiVersion ?? '1.41'
    this.minApiVersion = opts.minApiVersion ?? '1.12'
    this.server = createServer((req, res) => {
      this.dispatch(req, res).catch((error: unknown) => {
        // The engine answers 500 to what it did not foresee; the simulator never dies of a request.
        if (!res.headersSent) sendJson(res, 500, {message: `simulator: ${(error as Error).message}`})
        else res.destroy()
      })
    })
  }

  async start(): Promise<void> {
    rmSync(this.socketPath, {force: true})
    await new Promise<void>((resolve) => this.server.listen(this.socketPath, resolve))
  }

  async stop(): Promise<void> {
    for (const c of this.containers.values()) c.kill?.abort()
    await Promise.allSettled([...this.containers.values()].map(async (c) => await c.done))
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
    rmSync(this.socketPath, {force: true})
  }

  addFault(endpoint: string, fault: Fault): void {
    this.faults.add(endpoint, fault)
  }

  /** The image a reference (`name`, `name:tag`) or an id names. */
  image(ref: string): SimImage | undefined {
    const byId =
      this.images.get(ref) ??
      [...this.images.values()].find(
        (i) =>
          i.id.replace(/^sha256:/, '').startsWith(ref.replace(/^sha256:/, '')) &&
          ref.replace(/^sha256:/, '').length >= 12,
      )
    if (byId) return byId
    const full = /:[^:/]+$/.test(ref) ? ref : `${ref}:latest`
    return [...this.images.values()].find((i) => i.tags.includes(full))
  }

  container(idOrName: string): SimContainer | undefined {
    const name = idOrName.replace(/^\//, '')
    return (
      this.containers.get(name) ??
      [...this.containers.values()].find(
        (c) => c.id === idOrName || (idOrName.length >= 12 && c.id.startsWith(idOrName)),
      )
    )
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://docker')
    const versioned = /^\/v(\d+\.\d+)(\/.*)$/.exec(url.pathname)
    const path = versioned ? versioned[2]! : url.pathname
    let body: Buffer
    try {
      body = await readBody(req)
    } catch {
      return
    }
    const method = req.method ?? 'GET'
    let endpoint = `${method} ${path.replace(/\/(images|containers)\/[^/]+/, '/$1/:name')}`
    if (['/images/json', '/containers/json', '/containers/create', '/images/prune'].includes(path))
      endpoint = `${method} ${path}`
    this.emit('request', endpoint)
    const fault = this.faults.take(endpoint)
    if (fault && (await playFault(fault, req, res, endpoint, this.counters, (s) => ({message: `simulated ${s}`}))))
      return
    const reply: Reply = (status, value) => {
      this.counters.inc(endpoint, status)
      if (value === undefined) res.writeHead(status).end()
      else sendJson(res, status, value)
    }
    const tooFar = versioned ? versionError(versioned[1]!, this.minApiVersion, this.apiVersion) : undefined
    if (tooFar) return reply(400, {message: tooFar})
    if (method === 'GET' && path === '/_ping') {
      this.counters.inc(endpoint, 200)
      return void res.writeHead(200, {'content-type': 'text/plain', 'api-version': this.apiVersion}).end('OK')
    }
    if (method === 'GET' && path === '/version')
      return reply(200, {
        Version: '20.10.24+sim',
        ApiVersion: this.apiVersion,
        MinAPIVersion: this.minApiVersion,
        Os: 'linux',
        Arch: 'amd64',
      })
    if (method === 'POST' && path === '/build') return this.build(url, body, res, reply, endpoint)
    if (path.startsWith('/images/')) return this.imageRoute(method, path, url, reply)
    if (path.startsWith('/containers/')) return this.containerRoute(method, path, url, body, res, reply, endpoint)
    reply(404, {message: 'page not found'})
  }

  private filters(url: URL, reply: Reply): Record<string, string[]> | undefined {
    try {
      return parseFilters(url.searchParams.get('filters'))
    } catch (error) {
      reply(400, {message: `invalid filter: ${(error as Error).message}`})
      return undefined
    }
  }

  private usedBy(img: SimImage): SimContainer[] {
    return [...this.containers.values()].filter((c) => c.image === img.id)
  }

  private imageRoute(method: string, path: string, url: URL, reply: Reply): void {
    let r: RegExpExecArray | null
    if (method === 'GET' && (r = /^\/images\/([^/]+)\/json$/.exec(path))) {
      const ref = decodeURIComponent(r[1]!)
      const img = this.image(ref)
      return img
        ? reply(200, {Id: img.id, RepoTags: img.tags, Config: {Labels: img.labels}})
        : reply(404, {message: `No such image: ${ref}`})
    }
    if (method === 'GET' && path === '/images/json') {
      const f = this.filters(url, reply)
      if (!f) return
      const list = [...this.images.values()].filter(
        (i) =>
          labelsMatch(i.labels, f.label) &&
          (!f.reference || f.reference.some((p) => i.tags.some((t) => referenceMatches(p, t)))) &&
          (!f.dangling || f.dangling.includes(String(i.tags.length === 0))),
      )
      return reply(
        200,
        list.map((i) => ({
          Id: i.id,
          RepoTags: i.tags.length ? i.tags : ['<none>:<none>'],
          Labels: i.labels,
          Containers: -1,
        })),
      )
    }
    if (method === 'POST' && path === '/images/prune') {
      const f = this.filters(url, reply)
      if (!f) return
      const danglingOnly = !f.dangling || f.dangling.includes('true')
      const gone = [...this.images.values()].filter(
        (i) => (!danglingOnly || i.tags.length === 0) && labelsMatch(i.labels, f.label) && this.usedBy(i).length === 0,
      )
      for (const i of gone) this.images.delete(i.id)
      return reply(200, {ImagesDeleted: gone.length ? gone.map((i) => ({Deleted: i.id})) : null, SpaceReclaimed: 0})
    }
    if (method === 'DELETE' && (r = /^\/images\/([^/]+)$/.exec(path))) {
      const ref = decodeURIComponent(r[1]!)
      const img = this.image(ref)
      if (!img) return reply(404, {message: `No such image: ${ref}`})
      const force = url.searchParams.get('force') === 'true' || url.searchParams.get('force') === '1'
      const running = this.usedBy(img).find((c) => c.state === 'running')
      if (running)
        return reply(409, {
          message: `conflict: unable to delete ${ref} (cannot be forced) - image is being used by running container ${running.id.slice(0, 12)}`,
        })
      const stopped = this.usedBy(img)[0]
      if (stopped && !force)
        return reply(409, {
          message: `conflict: unable to delete ${ref} (must be forced) - image is being used by stopped container ${stopped.id.slice(0, 12)}`,
        })
      const full = /:[^:/]+$/.test(ref) ? ref : `${ref}:latest`
      if (img.tags.includes(full) && img.tags.length > 1) {
        img.tags = img.tags.filter((t) => t !== full)
        return reply(200, [{Untagged: full}])
      }
      this.images.delete(img.id)
      return reply(200, [...img.tags.map((t) => ({Untagged: t})), {Deleted: img.id}])
    }
    reply(404, {message: 'page not found'})
  }

  private async containerRoute(
    method: string,
    path: string,
    url: URL,
    body: Buffer,
    res: ServerResponse,
    reply: Reply,
    endpoint: string,
  ): Promise<void> {
    if (method === 'POST' && path === '/containers/create') return this.create(url, body, reply)
    if (method === 'GET' && path === '/containers/json') {
      const f = this.filters(url, reply)
      if (!f) return
      const all = ['true', '1'].includes(url.searchParams.get('all') ?? '')
      let names: RegExp[]
      try {
        names = (f.name ?? []).map((n) => new RegExp(n))
      } catch {
        return reply(400, {message: 'invalid filter: name is not a regular expression'})
      }
      const list = [...this.containers.values()].filter(
        (c) =>
          (all || c.state === 'running') &&
          labelsMatch(c.labels, f.label) &&
          names.every((n) => n.test(`/${c.name}`)) &&
          (!f.status || f.status.includes(c.state)),
      )
      return reply(
        200,
        list.map((c) => ({
          Id: c.id,
          Names: [`/${c.name}`],
          Image: this.images.get(c.image)?.tags[0] ?? c.image,
          ImageID: c.image,
          State: c.state,
          Labels: c.labels,
        })),
      )
    }
    const r = /^\/containers\/([^/]+)(?:\/(json|start|stop|wait|logs))?$/.exec(path)
    if (!r) return reply(404, {message: 'page not found'})
    const ref = decodeURIComponent(r[1]!)
    const c = this.container(ref)
    if (!c) return reply(404, {message: `No such container: ${ref}`})
    const action = r[2]
    if (method === 'GET' && action === 'json') {
      return reply(200, {
        Id: c.id,
        Name: `/${c.name}`,
        Image: c.image,
        Config: {Image: this.images.get(c.image)?.tags[0] ?? c.image, Labels: c.labels},
        State: {Status: c.state, Running: c.state === 'running', ExitCode: c.exitCode},
        HostConfig: {NetworkMode: c.networkMode, Binds: c.binds},
      })
    }
    if (method === 'POST' && action === 'start') {
      if (c.state === 'running') return reply(304)
      this.run(c)
      return reply(204)
    }
    if (method === 'POST' && action === 'stop') {
      if (c.state !== 'running') return reply(304)
      c.kill?.abort()
      await c.done
      return reply(204)
    }
    if (method === 'POST' && action === 'wait') {
      if (c.state === 'running') await c.done
      return reply(200, {StatusCode: c.exitCode, Error: null})
    }
    if (method === 'GET' && action === 'logs') {
      const stdout = ['true', '1'].includes(url.searchParams.get('stdout') ?? '')
      const stderr = ['true', '1'].includes(url.searchParams.get('stderr') ?? '')
      if (!stdout && !stderr) return reply(400, {message: 'Bad parameters: you must choose at least one stream'})
      this.counters.inc(endpoint, 200)
      res.writeHead(200, {'content-type': 'application/vnd.docker.raw-stream'})
      return void res.end(stdout ? Buffer.concat(c.output.map((l) => logFrame(1, `${l}\n`))) : Buffer.alloc(0))
    }
    if (method === 'DELETE' && !action) {
      const force = ['true', '1'].includes(url.searchParams.get('force') ?? '')
      if (c.state === 'running' && !force)
        return reply(409, {
          message: `You cannot remove a running container ${c.id}. Stop the container before attempting removal or force remove`,
        })
      // Forced: killed at once, as the engine does.
      c.kill?.abort()
      await c.done
      this.containers.delete(c.name)
      this.emit('removed', c)
      return reply(204)
    }
    reply(404, {message: 'page not found'})
  }

  private create(url: URL, body: Buffer, reply: Reply): void {
    const name = (url.searchParams.get('name') ?? `c_${randomBytes(4).toString('hex')}`).replace(/^\//, '')
    const nameError = containerNameError(name)
    if (nameError) return reply(400, {message: nameError})
    let spec: {Image?: unknown; Labels?: unknown; HostConfig?: {Binds?: unknown; NetworkMode?: unknown}}
    try {
      spec = JSON.parse(body.toString() || '{}') as typeof spec
      if (!spec || typeof spec !== 'object') throw new Error('not an object')
    } catch (error) {
      return reply(400, {message: `invalid JSON: ${(error as Error).message}`})
    }
    if (typeof spec.Image !== 'string' || !spec.Image)
      return reply(400, {message: 'config cannot be empty in order to create a container'})
    const img = this.image(spec.Image)
    if (!img) return reply(404, {message: `No such image: ${spec.Image}`})
    const existing = this.containers.get(name)
    if (existing)
      return reply(409, {
        message: `Conflict. The container name "/${name}" is already in use by container "${existing.id}". You have to remove (or rename) that container to be able to reuse that name.`,
      })
    const labels =
      spec.Labels && typeof spec.Labels === 'object'
        ? Object.fromEntries(Object.entries(spec.Labels).map(([k, v]) => [k, String(v)]))
        : {}
    const binds = Array.isArray(spec.HostConfig?.Binds) ? spec.HostConfig.Binds.map(String) : []
    const networkMode = typeof spec.HostConfig?.NetworkMode === 'string' ? spec.HostConfig.NetworkMode : 'default'
    const c: SimContainer = {
      id: randomBytes(32).toString('hex'),
      name,
      image: img.id,
      state: 'created',
      exitCode: 0,
      binds,
      networkMode,
      labels: {...img.labels, ...labels},
      output: [],
    }
    this.containers.set(name, c)
    reply(201, {Id: c.id, Warnings: []})
  }

  /** Plays the inner runner; killing the container aborts it. */
  private run(c: SimContainer): void {
    c.state = 'running'
    c.kill = new AbortController()
    this.emit('start', c)
    const img = this.images.get(c.image)
    c.done = runFetchedJob(img?.files['job.json']?.toString() ?? '', {
      label: c.name,
      defaultDurationMs: this.opts.jobDurationMs ?? 200,
      signal: c.kill.signal,
    }).then((played) => {
      // A killed container's process ends with an error, whatever the job was doing.
      const ran =
        played.result === 'killed' ? {jobId: played.jobId, result: 'error' as const, detail: 'killed'} : played
      c.ran = ran
      c.output.push(JSON.stringify(ran))
      c.exitCode = ran.result === 'success' ? 0 : ran.detail === 'killed' ? 137 : 1
      c.state = 'exited'
      this.emit('exit', c)
    })
  }

  private build(url: URL, body: Buffer, res: ServerResponse, reply: Reply, endpoint: string): void {
    const tag = parseTag(url.searchParams.get('t') ?? '')
    if ('error' in tag) return reply(400, {message: tag.error})
    let labels: Record<string, string>
    try {
      labels = JSON.parse(url.searchParams.get('labels') ?? '{}') as Record<string, string>
      if (!labels || typeof labels !== 'object' || Array.isArray(labels)) throw new Error('labels must be an object')
    } catch (error) {
      return reply(400, {message: `invalid labels: ${(error as Error).message}`})
    }
    this.counters.inc(endpoint, 200)
    res.writeHead(200, {'content-type': 'application/json'})
    const fail = (msg: string): void => void res.end(`${JSON.stringify({errorDetail: {message: msg}, error: msg})}\n`)
    let files: Record<string, Buffer>
    try {
      // The engine accepts a plain tar, or one compressed (gzip here).
      files = untar(body[0] === 0x1f && body[1] === 0x8b ? gunzipSync(body) : body)
    } catch {
      return fail('unexpected EOF')
    }
    const dockerfile = files.Dockerfile?.toString()
    if (!dockerfile) return fail('Cannot locate specified Dockerfile: Dockerfile')
    const from = /^FROM\s+(\S+)/m.exec(dockerfile)?.[1]
    if (!from) return fail('failed to parse Dockerfile: no FROM instruction')
    const steps = dockerfile.split('\n').filter((l) => l.trim() && !l.startsWith('#'))
    res.write(`${JSON.stringify({stream: `Step 1/${steps.length} : FROM ${from}\n`})}\n`)
    if (this.failBuilds > 0) {
      this.failBuilds--
      return fail(`pull access denied for ${from}, repository does not exist or may require 'docker login'`)
    }
    const id = `sha256:${createHash('sha256').update(body).update(JSON.stringify(labels)).digest('hex')}`
    // The tag moves to the new image; the one that had it is left dangling, as with the engine.
    for (const other of this.images.values()) other.tags = other.tags.filter((t) => t !== tag.ref)
    const img = this.images.get(id) ?? {id, tags: [], files, labels}
    img.tags.push(tag.ref)
    this.images.set(id, img)
    res.end(
      `${JSON.stringify({aux: {ID: id}})}\n${JSON.stringify({stream: `Successfully built ${id.slice(7, 19)}\n`})}\n${JSON.stringify({stream: `Successfully tagged ${tag.ref}\n`})}\n`,
    )
  }
}

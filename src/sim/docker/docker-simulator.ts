import {createHash, randomBytes} from 'node:crypto'
import {EventEmitter} from 'node:events'
import {rmSync} from 'node:fs'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'

import {untar} from '../../plugins/local-docker/tar.js'
import {Counters, FaultInjector, type Fault} from '../common/faults.js'
import {playFault, readBody, sendJson} from '../common/http-util.js'
import {runFetchedJob, type InnerRunResult} from '../common/inner-runner.js'

export interface SimImage {id: string; name: string; files: Record<string, Buffer>; labels: Record<string, string>}
export interface SimContainer {id: string; name: string; image: string; state: 'created' | 'running' | 'exited'; binds: string[]; labels: Record<string, string>; ran?: InnerRunResult}

/**
 * The Docker Engine API endpoints the local-docker executor uses, on a unix socket, answering
 * as Docker documents them (v1.43): build from a tar context (errors inside the 200 JSON stream),
 * image inspect / list / delete, container create / start / list / delete, `{"message": …}` errors.
 * A started container plays the inner runner with the image's job.json.
 */
export class DockerSimulator extends EventEmitter {
  readonly images = new Map<string, SimImage>()
  readonly containers = new Map<string, SimContainer>()
  readonly faults = new FaultInjector()
  readonly counters = new Counters()
  /** The next builds fail like a pull failure of the base image. */
  failBuilds = 0
  private readonly server: Server
  private readonly running = new Set<Promise<void>>()

  constructor(readonly socketPath: string, private readonly opts: {jobDurationMs?: number} = {}) {
    super()
    this.server = createServer((req, res) => void this.dispatch(req, res))
  }

  async start(): Promise<void> {
    rmSync(this.socketPath, {force: true})
    await new Promise<void>((resolve) => this.server.listen(this.socketPath, resolve))
  }

  async stop(): Promise<void> {
    await Promise.allSettled([...this.running])
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
    rmSync(this.socketPath, {force: true})
  }

  addFault(endpoint: string, fault: Fault): void {
    this.faults.add(endpoint, fault)
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://docker')
    const path = url.pathname.replace(/^\/v\d+\.\d+/, '')
    let body: Buffer
    try {
      body = await readBody(req)
    } catch {
      return
    }
    const m = (re: RegExp) => re.exec(path)
    const method = req.method ?? 'GET'
    let endpoint = `${method} ${path.replace(/\/(images|containers)\/[^/]+/, '/$1/:name')}`
    if (path === '/images/json' || path === '/containers/json') endpoint = `${method} ${path}`
    const fault = this.faults.take(endpoint)
    if (fault && (await playFault(fault, req, res, endpoint, this.counters, (s) => ({message: `simulated ${s}`})))) return
    const reply = (status: number, value?: unknown): void => {
      this.counters.inc(endpoint, status)
      if (value === undefined) res.writeHead(status).end()
      else sendJson(res, status, value)
    }
    if (method === 'GET' && path === '/_ping') return void (this.counters.inc(endpoint, 200), res.writeHead(200, {'content-type': 'text/plain'}).end('OK'))
    if (method === 'POST' && path === '/build') return this.build(url, body, res, endpoint)
    let r: RegExpExecArray | null
    if (method === 'GET' && (r = m(/^\/images\/([^/]+)\/json$/))) {
      const img = this.images.get(decodeURIComponent(r[1]!))
      return img ? reply(200, {Id: img.id, RepoTags: [`${img.name}:latest`], Config: {Labels: img.labels}}) : reply(404, {message: `No such image: ${decodeURIComponent(r[1]!)}`})
    }
    if (method === 'GET' && path === '/images/json') {
      const prefixes = filter(url, 'reference').map((p) => p.replace(/\*$/, ''))
      return reply(200, [...this.images.values()].filter((i) => prefixes.length === 0 || prefixes.some((p) => i.name.startsWith(p))).map((i) => ({Id: i.id, RepoTags: [`${i.name}:latest`], Labels: i.labels})))
    }
    if (method === 'DELETE' && (r = m(/^\/images\/([^/]+)$/))) {
      const name = decodeURIComponent(r[1]!).replace(/:latest$/, '')
      if (!this.images.has(name)) return reply(404, {message: `No such image: ${name}`})
      if ([...this.containers.values()].some((c) => c.image === name) && url.searchParams.get('force') !== 'true') return reply(409, {message: `conflict: unable to delete ${name} (must be forced) - image is being used by a container`})
      const img = this.images.get(name)!
      this.images.delete(name)
      return reply(200, [{Untagged: `${name}:latest`}, {Deleted: img.id}])
    }
    if (method === 'POST' && path === '/containers/create') {
      const name = url.searchParams.get('name') ?? `c_${randomBytes(4).toString('hex')}`
      const spec = JSON.parse(body.toString() || '{}') as {Image?: string; Labels?: Record<string, string>; HostConfig?: {Binds?: string[]}}
      if (this.containers.has(name)) return reply(409, {message: `Conflict. The container name "/${name}" is already in use`})
      if (!spec.Image || !this.images.has(spec.Image)) return reply(404, {message: `No such image: ${spec.Image}`})
      const c: SimContainer = {id: randomBytes(32).toString('hex'), name, image: spec.Image, state: 'created', binds: spec.HostConfig?.Binds ?? [], labels: spec.Labels ?? {}}
      this.containers.set(name, c)
      return reply(201, {Id: c.id, Warnings: []})
    }
    if (method === 'POST' && (r = m(/^\/containers\/([^/]+)\/start$/))) {
      const c = this.container(decodeURIComponent(r[1]!))
      if (!c) return reply(404, {message: `No such container: ${decodeURIComponent(r[1]!)}`})
      if (c.state === 'running') return reply(304)
      c.state = 'running'
      this.emit('start', c)
      const img = this.images.get(c.image)!
      const p = runFetchedJob(img.files['job.json']?.toString() ?? '', {label: c.name, defaultDurationMs: this.opts.jobDurationMs ?? 200}).then((ran) => {
        c.ran = ran
        c.state = 'exited'
      })
      this.running.add(p)
      void p.finally(() => this.running.delete(p))
      return reply(204)
    }
    if (method === 'GET' && path === '/containers/json') {
      const names = filter(url, 'name')
      const all = url.searchParams.get('all') === 'true' || url.searchParams.get('all') === '1'
      return reply(200, [...this.containers.values()].filter((c) => (all || c.state === 'running') && (names.length === 0 || names.some((n) => c.name.includes(n)))).map((c) => ({Id: c.id, Names: [`/${c.name}`], Image: c.image, State: c.state, Labels: c.labels})))
    }
    if (method === 'DELETE' && (r = m(/^\/containers\/([^/]+)$/))) {
      const c = this.container(decodeURIComponent(r[1]!))
      if (!c) return reply(404, {message: `No such container: ${decodeURIComponent(r[1]!)}`})
      if (c.state === 'running' && url.searchParams.get('force') !== 'true') return reply(409, {message: `You cannot remove a running container ${c.id}. Stop the container before attempting removal or force remove`})
      this.containers.delete(c.name)
      return reply(204)
    }
    reply(404, {message: 'page not found'})
  }

  private container(idOrName: string): SimContainer | undefined {
    return this.containers.get(idOrName) ?? [...this.containers.values()].find((c) => c.id === idOrName || c.id.startsWith(idOrName))
  }

  private build(url: URL, body: Buffer, res: ServerResponse, endpoint: string): void {
    const name = (url.searchParams.get('t') ?? '').replace(/:latest$/, '')
    this.counters.inc(endpoint, 200)
    res.writeHead(200, {'content-type': 'application/json'})
    let files: Record<string, Buffer>
    try {
      files = untar(body)
    } catch {
      res.end(`${JSON.stringify({errorDetail: {message: 'unexpected EOF'}, error: 'unexpected EOF'})}\n`)
      return
    }
    const dockerfile = files.Dockerfile?.toString()
    if (!dockerfile) {
      res.end(`${JSON.stringify({errorDetail: {message: 'Cannot locate specified Dockerfile: Dockerfile'}, error: 'Cannot locate specified Dockerfile: Dockerfile'})}\n`)
      return
    }
    const from = /^FROM\s+(\S+)/m.exec(dockerfile)?.[1] ?? ''
    res.write(`${JSON.stringify({stream: `Step 1/4 : FROM ${from}\n`})}\n`)
    if (this.failBuilds > 0) {
      this.failBuilds--
      const msg = `pull access denied for ${from}, repository does not exist or may require 'docker login'`
      res.end(`${JSON.stringify({errorDetail: {message: msg}, error: msg})}\n`)
      return
    }
    const id = `sha256:${createHash('sha256').update(body).digest('hex')}`
    let labels: Record<string, string> = {}
    try {
      labels = JSON.parse(url.searchParams.get('labels') ?? '{}') as Record<string, string>
    } catch {
      labels = {}
    }
    this.images.set(name, {id, name, files, labels})
    res.end(`${JSON.stringify({aux: {ID: id}})}\n${JSON.stringify({stream: `Successfully built ${id.slice(7, 19)}\n`})}\n${JSON.stringify({stream: `Successfully tagged ${name}:latest\n`})}\n`)
  }
}

function filter(url: URL, key: string): string[] {
  try {
    const f = JSON.parse(url.searchParams.get('filters') ?? '{}') as Record<string, string[] | Record<string, boolean>>
    const v = f[key]
    return Array.isArray(v) ? v : v ? Object.keys(v) : []
  } catch {
    return []
  }
}

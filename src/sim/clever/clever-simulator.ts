import {randomUUID, timingSafeEqual} from 'node:crypto'
import {EventEmitter} from 'node:events'
import {chmod, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {Counters, FaultInjector, type Fault} from '../common/faults.js'
import {gitHttpBackend, run} from '../common/git-http-backend.js'
import {parseParams, playFault, readBody, sendJson} from '../common/http-util.js'
import {runFetchedJob, type InnerRunResult} from '../common/inner-runner.js'

export interface CleverFlavor {name: string; mem: number; cpus: number; available: boolean}

export interface CleverOrgCredentials {
  /** The original's `Authorization: token …` scheme; also the git password. */
  token?: string
  /** API token (`Authorization: Bearer …`). */
  bearer?: string
  /** OAuth1 PLAINTEXT: consumer key/secret and token/secret (the token secret is the git password). */
  oauth?: {consumerKey: string; consumerSecret: string; token: string; tokenSecret: string}
}

export interface SimApp {
  id: string
  ownerId: string
  name: string
  /** As given at create (clever-tools sets it to the name when none is given). */
  description: string
  flavor: CleverFlavor
  instanceVersion: string
  lifetime: string
  repoState: 'CREATING' | 'CREATED'
  state: string
  env: Record<string, string>
  createdAt: number
  /** What was pushed to master: commit, the build context files, and the app's environment at that moment. */
  pushed?: {sha: string; files: Record<string, string>; env: Record<string, string>}
  /** The simulated inner runner's outcome for the job it ran. */
  ran?: InnerRunResult
  stuckInCreating?: boolean
}

export interface CleverSimulatorOptions {
  port?: number
  /** How long `repoState` stays `CREATING` after creation (ms). */
  repoReadyDelayMs?: number
  /** Play the inner runner after a push: run the pushed job against GitLab (default true). */
  innerRunner?: boolean
  /** Default duration of a simulated job when its payload does not say (SIM_JOB_DURATION_MS). */
  jobDurationMs?: number
  now?: () => number
}

const DOCKER_VARIANT = {id: 'a8b7c6d5-1e2f-4a3b-9c8d-7e6f5a4b3c2d', slug: 'docker', name: 'Docker', deployType: 'docker', logo: ''}

/** heptapod-runner variant flavors (clever-api.md §2.4) plus the standard ones, and an unavailable size. */
export const SIM_FLAVORS: CleverFlavor[] = [
  ...[['nano', 512, 1], ['XS', 1024, 1], ['S', 2048, 2], ['M', 4096, 4], ['L', 8192, 6], ['XL', 16384, 8], ['2XL', 24576, 12], ['3XL', 32768, 16]].map(([n, m, c]) => ({name: n as string, mem: m as number, cpus: c as number, available: true})),
  ...[['XS', 2048, 1], ['S', 4096, 2], ['M', 8192, 4], ['L', 12288, 6], ['XL', 16384, 8], ['2XL', 24576, 12], ['3XL', 32768, 16]].map(([n, m, c]) => ({name: `heptapod-runner-${n as string}`, mem: m as number, cpus: c as number, available: true})),
  {name: 'heptapod-runner-4XL', mem: 65536, cpus: 32, available: false},
]

/**
 * Clever Cloud's API (v2) and git deployment, on 127.0.0.1: product catalogue, applications per
 * organisation with `repoState` CREATING → CREATED, environment, Clever's error format, and a real
 * `git http-backend` accepting only `master`. After a push it plays the inner runner: it reads the
 * pushed `job.json` and runs the job against GitLab with the job token, as `exec-fetched-job` would.
 */
export class CleverSimulator extends EventEmitter {
  readonly faults: FaultInjector
  readonly counters = new Counters()
  readonly orgs = new Map<string, CleverOrgCredentials>()
  readonly apps = new Map<string, SimApp>()
  /** Every create and delete with the live weight after it ((RAM GiB)^1.25 summed). */
  readonly timeline: Array<{at: number; op: 'create' | 'delete'; appId: string; liveWeight: number}> = []
  flavors: CleverFlavor[] = SIM_FLAVORS.map((f) => ({...f}))
  instanceVersions = ['20231010', '20240315']
  repoReadyDelayMs: number
  /** The next created apps keep `repoState: CREATING` forever. */
  stuckRepos = 0
  /** The next pushes are refused by the git server (HTTP 403). */
  refusePushes = 0
  private readonly server: Server
  private readonly now: () => number
  private root = ''
  private baseUrl = ''
  private readonly running = new Set<Promise<void>>()

  constructor(private readonly opts: CleverSimulatorOptions = {}) {
    super()
    this.now = opts.now ?? Date.now
    this.faults = new FaultInjector(this.now)
    this.repoReadyDelayMs = opts.repoReadyDelayMs ?? 100
    this.server = createServer((req, res) => void this.dispatch(req, res))
  }

  async start(): Promise<string> {
    this.root = await mkdtemp(join(tmpdir(), 'clever-sim-git-'))
    await new Promise<void>((resolve) => this.server.listen(this.opts.port ?? 0, '127.0.0.1', resolve))
    this.baseUrl = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
    return `${this.baseUrl}/v2`
  }

  /** API base URL (`cc_api_url`). */
  get apiUrl(): string {
    return `${this.baseUrl}/v2`
  }

  async stop(): Promise<void> {
    await Promise.allSettled([...this.running])
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
    await rm(this.root, {recursive: true, force: true})
  }

  addOrg(orgaId: string, creds: CleverOrgCredentials): void {
    this.orgs.set(orgaId, creds)
  }

  addFault(endpoint: string, fault: Fault): void {
    this.faults.add(endpoint, fault)
  }

  liveWeight(): number {
    let w = 0
    for (const a of this.apps.values()) w += (a.flavor.mem / 1024) ** 1.25
    return w
  }

  peakWeight(): number {
    return this.timeline.reduce((m, e) => Math.max(m, e.liveWeight), 0)
  }

  appsOf(orgaId: string): SimApp[] {
    return [...this.apps.values()].filter((a) => a.ownerId === orgaId)
  }

  /** Waits until every simulated inner runner has finished. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running])
  }

  // ---- HTTP -------------------------------------------------------------------------------

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('sozu-id', randomUUID())
    const url = new URL(req.url ?? '/', 'http://sim')
    if (url.pathname.startsWith('/git/')) return this.git(req, res, url)
    let body: Buffer
    try {
      body = await readBody(req)
    } catch {
      return
    }
    const route = this.match(req.method ?? 'GET', url.pathname)
    if (!route) return this.error(res, 'unknown', 404, 4000, 'Not Found')
    // Every API request as it arrives, for tests that check pacing (rate limits).
    this.emit('request', {endpoint: route.endpoint, orga: route.params.orga, at: this.now()})
    const fault = this.faults.take(route.endpoint)
    if (fault && (await playFault(fault, req, res, route.endpoint, this.counters, (s) => ({id: s * 10 + 1, message: `simulated ${s}`, type: 'error'})))) return
    const json = parseParams(req, body)
    try {
      await route.handler({req, res, url, params: route.params, json, endpoint: route.endpoint})
    } catch (error) {
      this.error(res, route.endpoint, 500, 5001, `crash: ${(error as Error).message}`)
    }
  }

  private match(method: string, path: string): {endpoint: string; params: Record<string, string>; handler: (c: Ctx) => Promise<void> | void} | undefined {
    const routes: Array<[string, RegExp, string, (c: Ctx) => Promise<void> | void]> = [
      ['GET', /^\/v2\/products\/instances$/, 'GET /products/instances', (c) => this.instancesList(c)],
      ['GET', /^\/v2\/products\/flavors$/, 'GET /products/flavors', (c) => this.flavorsList(c)],
      ['GET', /^\/v2\/organisations\/([^/]+)\/applications$/, 'GET /organisations/:orga/applications', (c) => this.listApps(c)],
      ['POST', /^\/v2\/organisations\/([^/]+)\/applications$/, 'POST /organisations/:orga/applications', (c) => this.createApp(c)],
      ['GET', /^\/v2\/organisations\/([^/]+)\/applications\/([^/]+)$/, 'GET /organisations/:orga/applications/:app', (c) => this.getApp(c)],
      ['DELETE', /^\/v2\/organisations\/([^/]+)\/applications\/([^/]+)$/, 'DELETE /organisations/:orga/applications/:app', (c) => this.deleteApp(c)],
      ['PUT', /^\/v2\/organisations\/([^/]+)\/applications\/([^/]+)\/env$/, 'PUT /organisations/:orga/applications/:app/env', (c) => this.putEnv(c)],
      ['GET', /^\/v2\/organisations\/([^/]+)\/applications\/([^/]+)\/env$/, 'GET /organisations/:orga/applications/:app/env', (c) => this.getEnv(c)],
    ]
    for (const [m, re, endpoint, handler] of routes) {
      const r = re.exec(path)
      if (m === method && r) return {endpoint, params: {orga: decodeURIComponent(r[1] ?? ''), app: decodeURIComponent(r[2] ?? '')}, handler}
    }
    return undefined
  }

  private error(res: ServerResponse, endpoint: string, status: number, id: number, message: string): void {
    this.counters.inc(endpoint, status)
    sendJson(res, status, {id, message, type: 'error'})
  }

  private ok(c: Ctx, status: number, value: unknown): void {
    this.counters.inc(c.endpoint, status)
    sendJson(c.res, status, value)
  }

  /** Authorization for an organisation: token scheme, Bearer, or OAuth1 PLAINTEXT. */
  private auth(c: Ctx): boolean {
    const org = this.orgs.get(c.params.orga!)
    const h = c.req.headers.authorization ?? ''
    if (!h) {
      this.error(c.res, c.endpoint, 401, 2001, 'You are not logged in')
      return false
    }
    const valid = (creds: CleverOrgCredentials | undefined): boolean => {
      if (!creds) return false
      if (h.startsWith('token ') && creds.token) return same(h.slice(6), creds.token)
      if (h.startsWith('Bearer ') && creds.bearer) return same(h.slice(7), creds.bearer)
      if (h.startsWith('OAuth ') && creds.oauth) {
        const p = Object.fromEntries([...h.slice(6).matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], decodeURIComponent(m[2]!)]))
        const o = creds.oauth
        return p.oauth_consumer_key === o.consumerKey && p.oauth_token === o.token && p.oauth_signature === `${o.consumerSecret}&${o.tokenSecret}`
      }
      return false
    }
    if (valid(org)) return true
    // A credential of another organisation is authenticated but not allowed here.
    if ([...this.orgs.values()].some(valid)) this.error(c.res, c.endpoint, 403, 1002, 'You do not have the rights to access this organisation')
    else this.error(c.res, c.endpoint, 401, 2001, 'Invalid credentials')
    return false
  }

  private instancesList(c: Ctx): void {
    const flavors = this.flavors.filter((f) => !f.name.includes('-'))
    this.ok(c, 200, this.instanceVersions.map((version) => ({
      type: 'docker', version, name: 'Docker', description: 'Docker', enabled: true, comingSoon: false, maxInstances: 40,
      tags: [], deployments: ['git'], variant: DOCKER_VARIANT, flavors, defaultFlavor: flavors.find((f) => f.name === 'XS'), buildFlavor: flavors.find((f) => f.name === 'S'),
    })))
  }

  private flavorsList(c: Ctx): void {
    const ctx = c.url.searchParams.get('context')
    const list = this.flavors.filter((f) => (ctx ? f.name.startsWith(`${ctx}-`) : !f.name.includes('-')))
    this.ok(c, 200, list.map((f) => ({...f, gpus: 0, disk: null, price: 0.1, microservice: false, machine_learning: false, nice: 0, price_id: `${ctx ?? 'apps'}.${f.name}`, memory: {unit: 'B', value: f.mem * 1048576, formatted: `${f.mem} MiB`}})))
  }

  private wire(a: SimApp): Record<string, unknown> {
    const flavor = {...a.flavor, gpus: 0, disk: null, price: 0.1, microservice: false, machine_learning: false, nice: 0, price_id: a.flavor.name}
    return {
      id: a.id, ownerId: a.ownerId, name: a.name, description: a.description, zone: 'par', zoneId: 'par',
      instance: {type: 'docker', version: a.instanceVersion, variant: DOCKER_VARIANT, minInstances: 1, maxInstances: 1, maxAllowedInstances: 40, minFlavor: flavor, maxFlavor: flavor, flavors: [flavor], defaultEnv: {}, lifetime: a.lifetime, instanceAndVersion: `docker-${a.instanceVersion}`},
      deployment: {type: 'GIT', repoState: a.repoState, url: `git+ssh://git@push-n3-par-clevercloud-customers.services.clever-cloud.com/${a.id}.git`, httpUrl: `${this.baseUrl}/git/${a.id}.git`, shutdownable: false},
      deployUrl: `git+ssh://git@push-n3-par-clevercloud-customers.services.clever-cloud.com/${a.id}.git`,
      vhosts: [{fqdn: `${a.id.replace(/_/g, '-')}.cleverapps.io/`}], creationDate: a.createdAt, last_deploy: a.pushed ? 1 : 0,
      state: a.state, commitId: a.pushed?.sha ?? null, branch: 'master', env: Object.entries(a.env).map(([name, value]) => ({name, value})),
      buildFlavor: flavor, separateBuild: false, cancelOnPush: false, archived: false, stickySessions: false, homogeneous: false, favourite: false, forceHttps: 'DISABLED',
    }
  }

  private listApps(c: Ctx): void {
    if (!this.auth(c)) return
    this.ok(c, 200, this.appsOf(c.params.orga!).map((a) => this.wire(a)))
  }

  private app(c: Ctx): SimApp | undefined {
    const a = this.apps.get(c.params.app!)
    if (!a || a.ownerId !== c.params.orga) {
      this.error(c.res, c.endpoint, 404, 4004, 'Application not found')
      return undefined
    }
    return a
  }

  private getApp(c: Ctx): void {
    if (!this.auth(c)) return
    const a = this.app(c)
    if (a) this.ok(c, 200, this.wire(a))
  }

  private async createApp(c: Ctx): Promise<void> {
    if (!this.auth(c)) return
    const b = c.json ?? {}
    if (b.instanceType !== 'docker' || !this.instanceVersions.includes(String(b.instanceVersion))) {
      return this.error(c.res, c.endpoint, 400, 9017, 'The specified instance does not exist')
    }
    const flavor = this.flavors.find((f) => f.name === b.maxFlavor)
    if (!flavor || !flavor.available || b.minFlavor !== b.maxFlavor) return this.error(c.res, c.endpoint, 400, 4028, `Invalid flavor ${String(b.maxFlavor)}`)
    if (b.instanceLifetime !== undefined && !['REGULAR', 'MIGRATION', 'TASK'].includes(String(b.instanceLifetime))) return this.error(c.res, c.endpoint, 400, 4029, 'Invalid instance lifetime')
    const env = b.env === undefined ? {} : b.env
    if (typeof env !== 'object' || env === null || Array.isArray(env)) return this.error(c.res, c.endpoint, 400, 557, 'Application environment is invalid')
    const badEnv = Object.keys(env).filter((k) => !/^[a-zA-Z0-9-_.]+$/.test(k))
    if (badEnv.length > 0) return this.error(c.res, c.endpoint, 400, 557, 'Application environment is invalid')
    const app: SimApp = {
      id: `app_${randomUUID()}`, ownerId: c.params.orga!, name: String(b.name ?? ''), description: String(b.description ?? b.name ?? ''), flavor, instanceVersion: String(b.instanceVersion),
      lifetime: String(b.instanceLifetime ?? 'REGULAR'), repoState: 'CREATING', state: 'SHOULD_BE_DOWN',
      env: Object.fromEntries(Object.entries(env as Record<string, unknown>).map(([k, v]) => [k, String(v)])), createdAt: this.now(),
    }
    if (this.stuckRepos > 0) {
      this.stuckRepos--
      app.stuckInCreating = true
    }
    await this.initRepo(app.id)
    this.apps.set(app.id, app)
    this.timeline.push({at: this.now(), op: 'create', appId: app.id, liveWeight: this.liveWeight()})
    this.emit('app', app)
    if (!app.stuckInCreating) {
      setTimeout(() => {
        if (this.apps.has(app.id)) app.repoState = 'CREATED'
      }, this.repoReadyDelayMs).unref()
    }
    this.ok(c, 200, this.wire(app))
  }

  private deleteApp(c: Ctx): void {
    if (!this.auth(c)) return
    const a = this.app(c)
    if (!a) return
    this.apps.delete(a.id)
    this.timeline.push({at: this.now(), op: 'delete', appId: a.id, liveWeight: this.liveWeight()})
    this.emit('app-deleted', a)
    void rm(join(this.root, `${a.id}.git`), {recursive: true, force: true})
    this.ok(c, 200, {id: 302, message: 'deleted', type: 'success'})
  }

  private putEnv(c: Ctx): void {
    if (!this.auth(c)) return
    const a = this.app(c)
    if (!a) return
    const env = c.json ?? {}
    const bad = Object.keys(env).filter((k) => !/^[a-zA-Z0-9-_.]+$/.test(k))
    if (bad.length) {
      this.counters.inc(c.endpoint, 400)
      return sendJson(c.res, 400, {id: 557, message: 'Application environment is invalid', type: 'error', fields: Object.fromEntries(bad.map((k) => [k, 'invalid name']))})
    }
    a.env = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]))
    this.emit('env-set', a)
    this.ok(c, 200, this.wire(a))
  }

  private getEnv(c: Ctx): void {
    if (!this.auth(c)) return
    const a = this.app(c)
    if (a) this.ok(c, 200, Object.entries(a.env).map(([name, value]) => ({name, value})))
  }

  // ---- git --------------------------------------------------------------------------------

  private async initRepo(appId: string): Promise<void> {
    const dir = join(this.root, `${appId}.git`)
    await run('git', ['init', '-q', '--bare', '--initial-branch=master', dir])
    // Clever accepts only master (clever-api.md §5.3), with its own wording.
    const hook = join(dir, 'hooks', 'pre-receive')
    await writeFile(hook, '#!/bin/sh\nwhile read old new ref; do\n  if [ "$ref" != "refs/heads/master" ]; then\n    echo "You tried to push to a custom branch."\n    echo "This is not allowed."\n    exit 1\n  fi\ndone\n')
    await chmod(hook, 0o755)
  }

  private async git(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const m = /^\/git\/(app_[^/]+)\.git(\/.*)$/.exec(url.pathname)
    const app = m ? this.apps.get(m[1]!) : undefined
    const endpoint = req.method === 'POST' && url.pathname.endsWith('/git-receive-pack') ? 'GIT push' : 'GIT fetch'
    if (!m || !app) {
      this.counters.inc(endpoint, 404)
      res.writeHead(404).end('Repository not found\n')
      return
    }
    const creds = this.orgs.get(app.ownerId)
    const [user, pass] = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString('utf8').split(/:(.*)/s)
    const accepted = [creds?.token, creds?.oauth?.tokenSecret, creds?.bearer].filter((x): x is string => !!x)
    if (!user || !pass || !accepted.some((a) => same(pass, a))) {
      this.counters.inc(endpoint, 401)
      res.writeHead(401, {'www-authenticate': 'Basic realm="Clever Cloud git"'}).end()
      return
    }
    if (endpoint === 'GIT push' && this.refusePushes > 0) {
      this.refusePushes--
      this.counters.inc(endpoint, 403)
      res.writeHead(403).end('push refused (simulated)\n')
      return
    }
    const repo = join(this.root, `${app.id}.git`)
    const before = endpoint === 'GIT push' ? await this.master(repo) : ''
    await gitHttpBackend(req, res, this.root, `/${app.id}.git${m[2]}`, user)
    this.counters.inc(endpoint, res.statusCode)
    if (endpoint !== 'GIT push') return
    const after = await this.master(repo)
    if (after && after !== before) {
      // A push that created master: the deployment starts; the inner runner runs the job.
      const files: Record<string, string> = {}
      for (const f of ['Dockerfile', 'runner.toml', 'job.json']) files[f] = (await run('git', ['--git-dir', repo, 'show', `master:${f}`])).stdout
      app.pushed = {sha: after, files, env: {...app.env}}
      app.state = 'WANTS_TO_BE_UP'
      this.emit('push', app)
      if (this.opts.innerRunner !== false) {
        const p = this.innerRunner(app).finally(() => this.running.delete(p))
        this.running.add(p)
      }
    }
  }

  private async master(repo: string): Promise<string> {
    const r = await run('git', ['--git-dir', repo, 'rev-parse', '--verify', '-q', 'refs/heads/master'])
    return r.code === 0 ? r.stdout.trim() : ''
  }

  /** What `exec-fetched-job` does with the pushed job: report running, write its log, finish. */
  private async innerRunner(app: SimApp): Promise<void> {
    app.ran = await runFetchedJob(app.pushed!.files['job.json']!, {label: app.id, defaultDurationMs: this.opts.jobDurationMs ?? 200})
    if (app.ran.result === 'success' || app.ran.result === 'failed') app.state = 'SHOULD_BE_DOWN'
  }
}

interface Ctx {
  req: IncomingMessage
  res: ServerResponse
  url: URL
  params: Record<string, string>
  json: Record<string, unknown> | undefined
  endpoint: string
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

import {createHash, randomUUID} from 'node:crypto'
import {EventEmitter} from 'node:events'
import {mkdtemp, rm} from 'node:fs/promises'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {Counters, FaultInjector, type Fault} from '../common/faults.js'
import {listen, playFault, readBody, sendJson} from '../common/http-util.js'
import {runFetchedJob} from '../common/inner-runner.js'
import {authenticate, type CleverOrgCredentials, type SimMember} from './clever-auth.js'
import {
  runtimeWire,
  flavorWire,
  SIM_FLAVORS,
  SIM_VARIANTS,
  type CleverFlavor,
  type VariantRule,
} from './clever-catalogue.js'
import {ENV_NAME, TAG, validateCreate} from './clever-create.js'
import {CleverGitServer} from './clever-git.js'
import {appSummary, appWire, deploymentWire, instanceWire, type SimApp, type SimDeployment} from './clever-model.js'

export type {CleverFlavor} from './clever-catalogue.js'
export {SIM_FLAVORS} from './clever-catalogue.js'
export type {CleverOrgCredentials} from './clever-auth.js'
export type {SimApp} from './clever-model.js'

export interface CleverSimulatorOptions {
  port?: number
  /** How long `repoState` stays `CREATING` after creation (ms). */
  repoReadyDelayMs?: number
  /** Play the inner runner after a push: run the pushed job against GitLab (default true). */
  innerRunner?: boolean
  /** Default duration of a simulated job when its payload does not say (SIM_JOB_DURATION_MS). */
  jobDurationMs?: number
  /**
   * Environment every job needs on its app to run: the inner runner's docker executor uses the
   * host's Docker socket, which Clever mounts only with `CC_MOUNT_DOCKER_SOCKET=true`.
   * The app's variant adds its own needs (the heptapod-runner variant: `CC_ENABLE_HEPTAPOD_RUNNER=true`).
   */
  requiredEnv?: Record<string, string>
  now?: () => number
}

interface Ctx {
  req: IncomingMessage
  res: ServerResponse
  url: URL
  params: Record<string, string>
  body: Buffer
  endpoint: string
  member?: SimMember
}

type Handler = (c: Ctx) => Promise<void> | void

interface Route {
  method: string
  pattern: RegExp
  names: string[]
  endpoint: string
  auth: boolean
  handler: Handler
}

/** Deployment states during which a task may still run. */
const LIVE: ReadonlySet<string> = new Set(['WIP', 'TASK_RUNNING'])

/**
 * Clever Cloud's API (v2) and git deployment, on 127.0.0.1, as strict as the service where the
 * service is always strict (clever-api.md): product catalogue with public and private Docker
 * variants; create validated like Clever (zone, UUID variant known for the type, name, deploy,
 * flavors of the variant's context, JSON bodies only); applications per organisation with
 * `repoState` CREATING → CREATED (no git repository before); environment, tags, instances and
 * deployments; identity (`/self`, `/summary`, `/organisations`); credentials `token`, Bearer and
 * OAuth 1.0a (PLAINTEXT, HMAC-SHA1, HMAC-SHA512); git over HTTPS with Clever's credentials
 * and its master-only hook. After a push the app's task plays the inner runner: it reads the
 * pushed `job.json` and runs the job against GitLab with the job token, but only when the app's
 * environment at push time has what the job needs; deleting the app kills its task.
 *
 * What Clever does only now and then is a fault switch, off by default: `rateLimit()`,
 * `ghostCreates`, `listLagMs`, `lingerMs`, `stuckRepos`, `refusePushes`, `addFault()`.
 */
export class CleverSimulator extends EventEmitter {
  readonly faults: FaultInjector
  readonly counters = new Counters()
  readonly members: SimMember[] = []
  readonly apps = new Map<string, SimApp>()
  /** Deleted apps still shown by the list (`lingerMs`), until the given time. */
  readonly lingering = new Map<string, {app: SimApp; until: number}>()
  /** Every create and delete with the live weight after it ((RAM GiB)^1.25 summed). */
  readonly timeline: Array<{at: number; op: 'create' | 'delete'; appId: string; liveWeight: number}> = []
  /** Jobs whose task was killed because their app was deleted (or stopped) while they ran. */
  readonly killedJobs: Array<{appId: string; jobId: number; at: number}> = []
  flavors: CleverFlavor[] = SIM_FLAVORS.map((f) => ({...f}))
  variants: VariantRule[] = SIM_VARIANTS.map((r) => ({...r, requiredEnv: {...r.requiredEnv}}))
  instanceVersions = ['20231010', '20240315']
  requiredEnv: Record<string, string>
  repoReadyDelayMs: number
  // ---- fault switches: what Clever does now and then; all off by default --------------------
  /** The next created apps keep `repoState: CREATING` forever. */
  stuckRepos = 0
  /** The next pushes are refused by the git server (HTTP 403). */
  refusePushes = 0
  /** The next creates really create the app but answer `ghostCreateStatus` (an ambiguous failure). */
  ghostCreates = 0
  ghostCreateStatus = 504
  /** A new app is missing from `GET …/applications` (and `/summary`) for this long (ms). */
  listLagMs = 0
  /** A deleted app still shows in `GET …/applications` for this long (ms); GET on it is 404. */
  lingerMs = 0
  private readonly orgNames = new Map<string, string>()
  private readonly server: Server
  private readonly now: () => number
  private readonly routes: Route[] = []
  private readonly nonces = new Map<string, number>()
  private root = ''
  private baseUrl = ''
  private readonly running = new Set<Promise<void>>()
  /** Repositories of deleted apps being removed: stop() waits for them before removing the root. */
  private readonly removals = new Set<Promise<void>>()
  private readonly git: CleverGitServer

  constructor(private readonly opts: CleverSimulatorOptions = {}) {
    super()
    this.now = opts.now ?? Date.now
    this.faults = new FaultInjector(this.now)
    this.repoReadyDelayMs = opts.repoReadyDelayMs ?? 100
    this.requiredEnv = opts.requiredEnv ?? {CC_MOUNT_DOCKER_SOCKET: 'true'}
    this.server = createServer((req, res) => void this.dispatch(req, res))
    // A getter: the root is created later, at start().
    const root = (): string => this.root
    this.git = new CleverGitServer({
      get root() {
        return root()
      },
      apps: this.apps,
      members: this.members,
      counters: this.counters,
      takeRefusedPush: () => this.refusePushes > 0 && this.refusePushes-- > 0,
      pushed: (app, sha, files) => this.pushed(app, sha, files),
    })
    this.defineRoutes()
  }

  /** Starts listening on 127.0.0.1; resolves with the API base URL. A port in use rejects with EADDRINUSE. */
  async start(): Promise<string> {
    this.root = await mkdtemp(join(tmpdir(), 'clever-sim-git-'))
    try {
      await listen(this.server, this.opts.port ?? 0, '127.0.0.1')
    } catch (error) {
      await rm(this.root, {recursive: true, force: true})
      throw error
    }
    this.baseUrl = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
    return `${this.baseUrl}/v2`
  }

  /** Directory of the bare deployment repositories, one `<appId>.git` per app (benchmarks reset them). */
  get gitRoot(): string {
    return this.root
  }

  /** API base URL (`cc_api_url`). */
  get apiUrl(): string {
    return `${this.baseUrl}/v2`
  }

  /** Host root (`API_HOST` of clever-tools and @clevercloud/client, which add `/v2` themselves). */
  get hostUrl(): string {
    return this.baseUrl
  }

  async stop(): Promise<void> {
    for (const a of this.apps.values()) a.abort?.abort()
    await Promise.allSettled([...this.running])
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
    await Promise.allSettled([...this.removals])
    // A git http-backend still writing a push (its client gone) can add a file while the tree is
    // removed: rm retries on ENOTEMPTY.
    await rm(this.root, {recursive: true, force: true, maxRetries: 10, retryDelay: 20})
  }

  /** Makes the holder of these credentials a member of the organisation (same credentials: same user). */
  addOrg(orgaId: string, creds: CleverOrgCredentials, o: {name?: string} = {}): SimMember {
    const key = JSON.stringify(creds)
    let m = this.members.find((x) => JSON.stringify(x.creds) === key)
    if (!m) {
      const userId = `user_${uuidFrom(key)}`
      m = {userId, email: `${userId.slice(5, 13)}@sim.example`, creds: {...creds}, orgs: new Set()}
      this.members.push(m)
    }
    m.orgs.add(orgaId)
    this.orgNames.set(orgaId, o.name ?? this.orgNames.get(orgaId) ?? orgaId.replace(/^orga_/, ''))
    return m
  }

  addFault(endpoint: string, fault: Fault): void {
    this.faults.add(endpoint, fault)
  }

  /** Fault switch: the next `times` calls of `endpoint` (`*`: any) answer 429 with `Retry-After`. */
  rateLimit(o: {times: number; retryAfterSec?: number; endpoint?: string}): void {
    this.faults.add(o.endpoint ?? '*', {
      status: 429,
      times: o.times,
      headers: {'retry-after': String(o.retryAfterSec ?? 1)},
      contentType: 'application/json',
      body: JSON.stringify({id: 429, message: 'Too many requests', type: 'error'}),
    })
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

  private route(method: string, path: string, handler: Handler, auth = true): void {
    const names = [...path.matchAll(/:([a-z]+)/g)].map((m) => m[1]!)
    const pattern = new RegExp(`^/v2${path.replace(/:[a-z]+/g, '([^/]+)')}$`)
    this.routes.push({method, pattern, names, endpoint: `${method} ${path}`, auth, handler})
  }

  private defineRoutes(): void {
    const r = this.route.bind(this)
    const app = '/organisations/:orga/applications/:app'
    r(
      'GET',
      '/products/instances',
      (c) =>
        this.ok(
          c,
          200,
          this.instanceVersions.flatMap((v) =>
            this.variants.filter((x) => x.public).map((x) => runtimeWire(v, x, this.flavors)),
          ),
        ),
      false,
    )
    r('GET', '/products/flavors', (c) => this.flavorsList(c), false)
    r('GET', '/self', (c) => this.ok(c, 200, this.selfWire(c.member!)))
    r('GET', '/self/tokens/current', (c) => {
      const o = c.member!.creds.oauth
      if (!o) return this.error(c, 404, 4004, 'Not an OAuth token')
      this.ok(c, 200, {
        token: o.token,
        consumer: {key: o.consumerKey, name: 'simulated consumer'},
        creationDate: 0,
        expirationDate: 4102444800000,
        lastUtilisation: this.now(),
        rights: {},
      })
    })
    r('GET', '/summary', (c) => this.summary(c))
    r('GET', '/organisations', (c) =>
      this.ok(c, 200, [
        {...this.orgWire(c.member!.userId), name: c.member!.email},
        ...[...c.member!.orgs].map((o) => this.orgWire(o)),
      ]),
    )
    r('GET', '/organisations/:orga', (c) => {
      if (this.orgOf(c)) this.ok(c, 200, this.orgWire(c.params.orga!))
    })
    r('GET', '/organisations/:orga/applications', (c) => this.listApps(c))
    r('POST', '/organisations/:orga/applications', (c) => this.createApp(c))
    r('GET', app, (c) => this.withApp(c, (a) => this.ok(c, 200, this.wire(a))))
    r('DELETE', app, (c) => this.withApp(c, (a) => this.deleteApp(c, a)))
    r('GET', `${app}/env`, (c) => this.withApp(c, (a) => this.ok(c, 200, envList(a))))
    r('PUT', `${app}/env`, (c) => this.withApp(c, (a) => this.putEnv(c, a)))
    r('PUT', `${app}/env/:name`, (c) => this.withApp(c, (a) => this.putEnvVar(c, a)))
    r('DELETE', `${app}/env/:name`, (c) =>
      this.withApp(c, (a) => {
        delete a.env[c.params.name!]
        this.ok(c, 200, this.wire(a))
      }),
    )
    // Linked add-ons and dependencies are not modelled: none, as for a fresh app.
    r('GET', `${app}/addons/env`, (c) => this.withApp(c, () => this.ok(c, 200, [])))
    r('GET', `${app}/dependencies/env`, (c) => this.withApp(c, () => this.ok(c, 200, [])))
    r('GET', `${app}/tags`, (c) => this.withApp(c, (a) => this.ok(c, 200, a.tags)))
    r('PUT', `${app}/tags`, (c) => this.withApp(c, (a) => this.putTags(c, a)))
    r('PUT', `${app}/tags/:tag`, (c) =>
      this.withApp(c, (a) => {
        if (!TAG.test(c.params.tag!))
          return this.error(c, 400, 4001, 'Invalid tag', {tag: 'letters, digits and -_.: only'})
        if (!a.tags.includes(c.params.tag!)) a.tags.push(c.params.tag!)
        this.ok(c, 200, a.tags)
      }),
    )
    r('DELETE', `${app}/tags/:tag`, (c) =>
      this.withApp(c, (a) => {
        a.tags = a.tags.filter((t) => t !== c.params.tag)
        this.ok(c, 200, a.tags)
      }),
    )
    r('GET', `${app}/instances`, (c) =>
      this.withApp(c, (a) => {
        const withDeleted = c.url.searchParams.get('withDeleted') === 'true'
        const dep = c.url.searchParams.get('deploymentId')
        this.ok(
          c,
          200,
          a.instances
            .map((i, n) => instanceWire(a, i, n))
            .filter((i) => (withDeleted || i.state !== 'DELETED') && (!dep || i.deployId === dep)),
        )
      }),
    )
    r('GET', `${app}/instances/:instance`, (c) =>
      this.withApp(c, (a) => {
        const n = a.instances.findIndex((i) => i.id === c.params.instance)
        if (n < 0) return this.error(c, 404, 4004, 'Instance not found')
        this.ok(c, 200, instanceWire(a, a.instances[n]!, n))
      }),
    )
    r('POST', `${app}/instances`, (c) => this.withApp(c, (a) => this.restart(c, a)))
    r('DELETE', `${app}/instances`, (c) =>
      this.withApp(c, (a) => {
        this.stopTask(a, 'CANCELLED')
        a.state = 'SHOULD_BE_DOWN'
        this.ok(c, 200, {id: 200, message: 'The application has been stopped', type: 'success'})
      }),
    )
    r('GET', `${app}/deployments`, (c) =>
      this.withApp(c, (a) => {
        const limit = Number(c.url.searchParams.get('limit') ?? 1000)
        const offset = Number(c.url.searchParams.get('offset') ?? 0)
        const action = c.url.searchParams.get('action')
        const list = [...a.deployments].reverse().filter((d) => !action || d.action === action)
        this.ok(c, 200, list.slice(offset, offset + limit).map(deploymentWire))
      }),
    )
    r('GET', `${app}/deployments/:deployment`, (c) =>
      this.withApp(c, (a) => {
        const d = a.deployments.find((x) => x.uuid === c.params.deployment || String(x.id) === c.params.deployment)
        if (!d) return this.error(c, 404, 4004, 'Deployment not found')
        this.ok(c, 200, deploymentWire(d))
      }),
    )
    r('DELETE', `${app}/deployments/:deployment/instances`, (c) =>
      this.withApp(c, (a) => {
        const d = a.deployments.find((x) => x.uuid === c.params.deployment)
        if (!d) return this.error(c, 404, 4004, 'Deployment not found')
        if (LIVE.has(d.state)) this.stopTask(a, 'CANCELLED')
        this.ok(c, 200, {id: 200, message: 'The deployment has been cancelled', type: 'success'})
      }),
    )
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('sozu-id', randomUUID())
    const url = new URL(req.url ?? '/', 'http://sim')
    if (url.pathname.startsWith('/git/')) return this.git.serve(req, res, url)
    let body: Buffer
    try {
      body = await readBody(req)
    } catch {
      return
    }
    const route = this.routes.find((r) => r.method === req.method && r.pattern.test(url.pathname))
    if (!route) {
      const known = this.routes.some((r) => r.pattern.test(url.pathname))
      this.counters.inc(`unknown ${req.method} ${url.pathname}`, known ? 405 : 404)
      return sendJson(res, known ? 405 : 404, {
        id: known ? 4005 : 4000,
        message: known ? 'Method Not Allowed' : 'Not Found',
        type: 'error',
      })
    }
    const m = route.pattern.exec(url.pathname)!
    // Every API request as it arrives, for tests that check pacing (rate limits).
    this.emit('request', {endpoint: route.endpoint, at: this.now()})
    const params = Object.fromEntries(route.names.map((n, i) => [n, decodeURIComponent(m[i + 1]!)]))
    const c: Ctx = {req, res, url, params, body, endpoint: route.endpoint}
    const fault = this.faults.take(route.endpoint)
    if (
      fault &&
      (await playFault(fault, req, res, route.endpoint, this.counters, (s) => ({
        id: s * 10 + 1,
        message: `simulated ${s}`,
        type: 'error',
      })))
    )
      return
    if (route.auth) {
      const who = authenticate(req, url, this.members, this.now(), this.nonces)
      if (!who.ok)
        return this.error(
          c,
          401,
          2001,
          who.reason === 'missing' ? 'You are not logged in' : `Invalid credentials (${who.reason})`,
        )
      c.member = who.member
    }
    try {
      await route.handler(c)
    } catch (error) {
      if (!res.headersSent) this.error(c, 500, 5001, `crash: ${(error as Error).message}`)
    }
  }

  private error(c: Ctx, status: number, id: number, message: string, fields?: Record<string, string>): void {
    this.counters.inc(c.endpoint, status)
    sendJson(c.res, status, {id, message, type: 'error', ...(fields ? {fields} : {})})
  }

  private ok(c: Ctx, status: number, value: unknown): void {
    this.counters.inc(c.endpoint, status)
    sendJson(c.res, status, value)
  }

  /** The JSON object body of a write; Clever's API takes JSON only. Answers and returns undefined otherwise. */
  private jsonBody<T = Record<string, unknown>>(c: Ctx, kind: 'object' | 'array' = 'object'): T | undefined {
    if (!(c.req.headers['content-type'] ?? '').toLowerCase().includes('application/json')) {
      this.error(c, 415, 4015, 'Unsupported Media Type: the body must be JSON (Content-Type: application/json)')
      return undefined
    }
    try {
      const v = JSON.parse(c.body.toString('utf8')) as unknown
      if (kind === 'array' ? Array.isArray(v) : v !== null && typeof v === 'object' && !Array.isArray(v)) return v as T
    } catch {
      // answered below
    }
    this.error(c, 400, 4000, `Bad Request: the body must be a JSON ${kind}`)
    return undefined
  }

  /** The caller must be a member of the organisation: 403 for someone else's, 404 for an unknown one. */
  private orgOf(c: Ctx): boolean {
    const orga = c.params.orga!
    if (c.member!.orgs.has(orga)) return true
    if (this.orgNames.has(orga)) this.error(c, 403, 1002, 'You do not have the rights to access this organisation')
    else this.error(c, 404, 4004, 'Organisation not found')
    return false
  }

  private withApp(c: Ctx, f: (a: SimApp) => Promise<void> | void): Promise<void> | void {
    if (!this.orgOf(c)) return
    const a = this.apps.get(c.params.app!)
    if (!a || a.ownerId !== c.params.orga) return this.error(c, 404, 4004, 'Application not found')
    return f(a)
  }

  private wire(a: SimApp): Record<string, unknown> {
    return appWire(a, `${this.baseUrl}/git`)
  }

  private orgWire(id: string): Record<string, unknown> {
    return {
      id,
      name: this.orgNames.get(id) ?? id,
      description: '',
      billingEmail: 'billing@sim.example',
      address: '',
      city: '',
      zipcode: '',
      country: 'FRANCE',
      company: '',
      VAT: '',
      avatar: null,
      vatState: 'VALID',
      customerFullName: '',
      canPay: true,
      cleverEnterprise: false,
      emergencyNumber: null,
      canSEPA: false,
      isTrusted: true,
    }
  }

  private selfWire(m: SimMember): Record<string, unknown> {
    return {
      id: m.userId,
      email: m.email,
      name: 'Simulated User',
      phone: null,
      address: null,
      city: null,
      zipcode: null,
      country: null,
      avatar: null,
      creationDate: 0,
      lang: 'EN',
      emailValidated: true,
      oauthApps: [],
      admin: false,
      canPay: true,
      preferredMFA: 'NONE',
      hasPassword: true,
      partnerId: null,
      partnerName: null,
      partnerConsoleUrl: null,
    }
  }

  /** Apps the list shows: minus those created less than `listLagMs` ago, plus deleted ones that linger. */
  private listed(orga: string): SimApp[] {
    const now = this.now()
    for (const [id, l] of this.lingering) if (l.until <= now) this.lingering.delete(id)
    return [
      ...this.appsOf(orga).filter((a) => now - a.createdAt >= this.listLagMs),
      ...[...this.lingering.values()].map((l) => l.app).filter((a) => a.ownerId === orga),
    ]
  }

  private summary(c: Ctx): void {
    const m = c.member!
    this.ok(c, 200, {
      user: {
        id: m.userId,
        name: 'Simulated User',
        avatar: null,
        applications: [],
        addons: [],
        consumers: [],
        email: m.email,
        lang: 'EN',
        admin: false,
      },
      organisations: [...m.orgs].map((o) => ({
        id: o,
        name: this.orgNames.get(o) ?? o,
        avatar: null,
        applications: this.listed(o).map(appSummary),
        addons: [],
        consumers: [],
        role: 'ADMIN',
        providers: [],
        vatState: 'VALID',
        canPay: true,
        canSEPA: false,
        cleverEnterprise: false,
        emergencyNumber: null,
        isTrusted: true,
      })),
    })
  }

  private flavorsList(c: Ctx): void {
    const ctx = c.url.searchParams.get('context')
    const list = this.flavors.filter((f) => (ctx ? f.name.startsWith(`${ctx}-`) : !f.name.includes('-')))
    this.ok(
      c,
      200,
      list.map((f) => flavorWire(f, ctx)),
    )
  }

  private listApps(c: Ctx): void {
    if (this.orgOf(c))
      this.ok(
        c,
        200,
        this.listed(c.params.orga!).map((a) => this.wire(a)),
      )
  }

  private async createApp(c: Ctx): Promise<void> {
    if (!this.orgOf(c)) return
    const b = this.jsonBody(c)
    if (!b) return
    const spec = validateCreate(b, {versions: this.instanceVersions, variants: this.variants, flavors: this.flavors})
    if ('status' in spec) return this.error(c, spec.status, spec.id, spec.message, spec.fields)
    const app: SimApp = {
      id: `app_${randomUUID()}`,
      ownerId: c.params.orga!,
      name: spec.name,
      description: spec.description,
      zone: spec.zone,
      rule: spec.rule,
      flavor: spec.maxFlavor,
      minFlavor: spec.minFlavor,
      minInstances: spec.minInstances,
      maxInstances: spec.maxInstances,
      instanceVersion: spec.instanceVersion,
      lifetime: spec.lifetime,
      repoState: 'CREATING',
      state: 'SHOULD_BE_DOWN',
      env: spec.env,
      tags: spec.tags,
      createdAt: this.now(),
      deployments: [],
      instances: [],
    }
    if (this.stuckRepos > 0) {
      this.stuckRepos--
      app.stuckInCreating = true
    }
    await this.git.initRepo(app.id)
    this.apps.set(app.id, app)
    this.timeline.push({at: this.now(), op: 'create', appId: app.id, liveWeight: this.liveWeight()})
    this.emit('app', app)
    if (!app.stuckInCreating) {
      setTimeout(() => {
        if (this.apps.has(app.id)) app.repoState = 'CREATED'
      }, this.repoReadyDelayMs).unref()
    }
    if (this.ghostCreates > 0) {
      // Created on Clever's side, but the answer is lost: the caller sees a 5xx.
      this.ghostCreates--
      return this.error(
        c,
        this.ghostCreateStatus,
        this.ghostCreateStatus * 10 + 1,
        'simulated: the application was created but the answer was lost',
      )
    }
    this.ok(c, 200, this.wire(app))
  }

  private deleteApp(c: Ctx, a: SimApp): void {
    this.apps.delete(a.id)
    this.stopTask(a, 'CANCELLED')
    if (this.lingerMs > 0) this.lingering.set(a.id, {app: a, until: this.now() + this.lingerMs})
    this.timeline.push({at: this.now(), op: 'delete', appId: a.id, liveWeight: this.liveWeight()})
    this.emit('app-deleted', a)
    const removal = rm(join(this.root, `${a.id}.git`), {recursive: true, force: true, maxRetries: 10, retryDelay: 20})
      .catch(() => {}) // stop() removes the whole tree anyway
      .finally(() => this.removals.delete(removal))
    this.removals.add(removal)
    this.ok(c, 200, {id: 302, message: 'deleted', type: 'success'})
  }

  private putEnv(c: Ctx, a: SimApp): void {
    const env = this.jsonBody(c)
    if (!env) return
    const bad = Object.keys(env).filter((k) => !ENV_NAME.test(k))
    if (bad.length)
      return this.error(
        c,
        400,
        557,
        'Application environment is invalid',
        Object.fromEntries(bad.map((k) => [k, 'invalid name'])),
      )
    // The bulk PUT replaces the whole set.
    a.env = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]))
    this.emit('env-set', a)
    this.ok(c, 200, this.wire(a))
  }

  private putEnvVar(c: Ctx, a: SimApp): void {
    const name = c.params.name!
    if (!ENV_NAME.test(name))
      return this.error(c, 400, 557, 'Application environment is invalid', {[name]: 'invalid name'})
    const b = this.jsonBody(c)
    if (!b) return
    if (typeof b.value !== 'string') return this.error(c, 400, 4001, 'Bad Request', {value: 'must be a string'})
    a.env[name] = b.value
    this.ok(c, 200, this.wire(a))
  }

  private putTags(c: Ctx, a: SimApp): void {
    const tags = this.jsonBody<unknown[]>(c, 'array')
    if (!tags) return
    if (tags.some((t) => typeof t !== 'string' || !TAG.test(t)))
      return this.error(c, 400, 4001, 'Invalid tag', {tags: 'letters, digits and -_.: only'})
    a.tags = [...new Set(tags as string[])]
    this.ok(c, 200, a.tags)
  }

  /** `POST …/instances`: deploys the pushed commit again (a TASK app runs its task again). */
  private restart(c: Ctx, a: SimApp): void {
    if (!a.pushed)
      return this.error(c, 400, 4010, 'The application has never been deployed: push to its git repository first')
    if (a.deployments.some((d) => LIVE.has(d.state)))
      return this.error(c, 409, 4090, 'A deployment is already in progress')
    const d = this.deploy(a, 'restart')
    this.ok(c, 200, {id: 200, message: 'The application is being deployed', type: 'success', deploymentId: d.uuid})
  }

  // ---- deployments and the task -----------------------------------------------------------

  /** A new deployment of master; the task plays the inner runner with the app's environment of now. */
  private deploy(a: SimApp, cause: string): SimDeployment {
    const pushed = a.pushed!
    const d: SimDeployment = {
      id: a.deployments.length + 1,
      uuid: `deployment_${randomUUID()}`,
      date: this.now(),
      state: 'WIP',
      action: 'DEPLOY',
      commit: pushed.sha,
      cause,
      instances: 1,
    }
    a.deployments.push(d)
    const instance = {
      id: `${a.id.replace(/^app_/, '')}-${d.id}`,
      state: 'DEPLOYING' as const,
      deployId: d.uuid,
      deployNumber: d.id,
      commit: pushed.sha,
      creationDate: this.now(),
      flavor: a.flavor,
    }
    a.instances.push(instance)
    a.state = 'WANTS_TO_BE_UP'
    const env = {...a.env}
    const ac = new AbortController()
    a.abort = ac
    d.state = 'TASK_RUNNING'
    a.instances.at(-1)!.state = 'TASK_IN_PROGRESS'
    if (this.opts.innerRunner === false) return d
    const p = runFetchedJob(pushed.files['job.json'] ?? '', {
      label: a.id,
      defaultDurationMs: this.opts.jobDurationMs ?? 200,
      signal: ac.signal,
      env,
      requiredEnv: {...this.requiredEnv, ...a.rule.requiredEnv},
      onFinalReport: () => {
        if (a.abort === ac) a.finalReported = true
      },
    })
      .then((ran) => {
        a.ran = ran
        if (ran.result === 'killed') return
        d.state = ran.result === 'success' ? 'OK' : 'FAIL'
        for (const i of a.instances) if (i.deployId === d.uuid) i.state = 'DELETED'
        a.state = 'SHOULD_BE_DOWN'
        if (a.abort === ac) delete a.abort
        this.emit('task-ended', a)
      })
      .finally(() => this.running.delete(p))
    this.running.add(p)
    return d
  }

  /** Stops the running task, if any: a job still executing dies with it (and stays running at GitLab). */
  private stopTask(a: SimApp, end: 'CANCELLED'): void {
    for (const d of a.deployments) if (LIVE.has(d.state)) d.state = end
    for (const i of a.instances) i.state = 'DELETED'
    if (a.abort && !a.abort.signal.aborted) {
      a.abort.abort()
      // Killed only if the job had not reported its end yet: a job over at GitLab lost nothing.
      if (a.pushed && a.ran === undefined && !a.finalReported && this.opts.innerRunner !== false) {
        const jobId = jobIdOf(a.pushed.files['job.json'])
        this.killedJobs.push({appId: a.id, jobId, at: this.now()})
        this.emit('job-killed', {app: a, jobId})
      }
    }
    delete a.abort
  }

  /** A push that moved master: the running task (if any) stops and a new deployment starts, with the app's environment of now. */
  private pushed(app: SimApp, sha: string, files: Record<string, string>): void {
    if (!this.apps.has(app.id)) return
    this.stopTask(app, 'CANCELLED')
    delete app.ran
    delete app.finalReported
    app.pushed = {sha, files, env: {...app.env}}
    this.emit('push', app)
    this.deploy(app, 'git push')
  }
}

function envList(a: SimApp): Array<{name: string; value: string}> {
  return Object.entries(a.env).map(([name, value]) => ({name, value}))
}

function jobIdOf(jobJson: string | undefined): number {
  try {
    return Number((JSON.parse(jobJson ?? '') as {id?: unknown}).id ?? -1)
  } catch {
    return -1
  }
}

/** A stable UUID-shaped id from a string (same credentials: same user id). */
function uuidFrom(s: string): string {
  const h = createHash('sha256').update(s).digest('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`
}

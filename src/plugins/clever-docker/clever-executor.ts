import {Buffer} from 'node:buffer'

import {z} from 'zod'

import {
  FlavorConfigError,
  JobRejectedError,
  PaasRunnerError,
  formatOwnerMarker,
  jobIdFromResourceName,
  jobVariable,
  makeFlavor,
  minRequestableWeight,
  parseOwnerMarker,
  requireOwner,
  resourceName,
  resourceNamePrefix,
  sameOwner,
  BuildContextRenderer,
  type DecommissionOutcome,
  type Executor,
  type ExecutorDeps,
  type Flavor,
  type HttpClient,
  type JobPayload,
  type Json,
  type OwnedListing,
  type Resource,
  type RunnerConfig,
} from '@heptapod-paas-runner/plugin-api'
import {describeAnswerIssues} from './clever-answers.js'
import {CleverApiError, CleverClient, type CleverAppWire, type CleverAuth} from './clever-client.js'
import type {CleverConfig} from './clever-config.js'
import {pushBuildContext} from './deploy-push.js'
import {checkDeployUrl} from './deploy-url.js'
import {KnownApps} from './known-apps.js'

export const FLAVOR_VARIABLE = 'CI_CLEVER_CLOUD_FLAVOR'
export const NAMESPACE_VARIABLE = 'CI_PROJECT_ROOT_NAMESPACE'
const FLAVORS_TTL_MS = 3_600_000
const ATTRIBUTES_TTL_MS = 60_000

interface Orga {
  orgaId: string
  auth: CleverAuth
  /** Top-level group it was resolved from (multi-tenant), null in single-organisation mode. */
  namespace: string | null
  /** Git HTTPS credentials of the deployment repository. */
  gitUser: string
  gitPassword: string
}

const dumpSchema = z.object({
  id: z.string(),
  name: z.string().optional(),
  weight: z.number().optional(),
  flavor: z.string().nullable().optional(),
  launched: z.boolean(),
  namespace: z.string().nullable().optional(),
  gitlab_namespace: z.string().nullable().optional(), // the original's dump
  deployUrl: z.string().optional(),
  deploy_url: z.string().optional(), // the original's dump
})

/** One Clever Cloud Docker application per job, deployed by git push (clever-api.md §0). */
export class CleverDockerExecutor implements Executor {
  readonly name = 'clever-docker'
  readonly uniqueName: string
  private readonly cfg: CleverConfig
  private apiClient: CleverClient | undefined
  private httpClient: HttpClient | undefined
  /** Per organisation: which apps named like ours exist (known-apps.ts), instead of a listing per provision. */
  private readonly known = new Map<string, KnownApps>()
  private flavorCache: {at: number; map: Map<string, Flavor & {apiName: string}>} | undefined
  private instanceCache: {at: number; version: string} | undefined
  private readonly attributeCache = new Map<string, {at: number; attrs: Record<string, string>}>()
  /** Namespaces seen (multi-tenant): where the orphan sweep looks. */
  private readonly namespaces = new Set<string>()
  /**
   * Apps whose environment this process has set (at create or by PUT). Any other app (created
   * before a restart) gets its environment again before the job is pushed to it.
   */
  private readonly createdWithEnv = new Set<string>()
  private readonly contexts: BuildContextRenderer

  constructor(
    private readonly runner: RunnerConfig<CleverConfig>,
    private readonly deps: ExecutorDeps,
  ) {
    this.uniqueName = runner.uniqueName
    this.cfg = runner.executorConfig
    this.contexts = new BuildContextRenderer(runner)
    if (this.cfg.cc_token) deps.addSecret(this.cfg.cc_token)
  }

  /** The API client, made on first use: commands that only read the config never load undici. */
  private async client(): Promise<CleverClient> {
    if (!this.apiClient) {
      const http = await this.http()
      this.apiClient = new CleverClient({
        http,
        baseUrl: this.cfg.cc_api_url,
        sleep: this.deps.sleep,
        now: this.deps.now,
        random: Math.random,
        ...(this.deps.onApiExchange ? {onExchange: this.deps.onApiExchange} : {}),
        onRateLimited: (e) => {
          this.deps.log.warn(
            `Clever Cloud API rate limit: calls of this kind wait ${Math.ceil(e.waitMs / 1000)} s, as the API asked`,
            {remote: e.key},
          )
          this.deps.onRateLimited?.(e)
        },
      })
    }
    return this.apiClient
  }

  /** The HTTP client of the API. */
  private async http(): Promise<HttpClient> {
    this.httpClient ??=
      this.deps.http ?? new (await import('@heptapod-paas-runner/plugin-api/undici')).UndiciHttpClient()
    return this.httpClient
  }

  private knownApps(org: Orga): KnownApps {
    let k = this.known.get(org.orgaId)
    if (!k) {
      k = new KnownApps(resourceNamePrefix(this.uniqueName), async () =>
        (await this.client()).listApps(org.orgaId, org.auth),
      )
      this.known.set(org.orgaId, k)
    }
    return k
  }

  // ---- flavors and weights ----------------------------------------------------------------

  async flavors(signal?: AbortSignal): Promise<ReadonlyMap<string, Flavor>> {
    return this.flavorMap(signal)
  }

  /** Flavors of the `cc_flavor_context`, cached 1 h; a stale cache is used (with a warning) when the API fails. */
  private async flavorMap(signal?: AbortSignal, refresh = false): Promise<Map<string, Flavor & {apiName: string}>> {
    if (!refresh && this.flavorCache && this.deps.now() - this.flavorCache.at < FLAVORS_TTL_MS)
      return this.flavorCache.map
    const prefix = this.cfg.cc_flavor_name_prefix ?? `${this.cfg.cc_flavor_context}-`
    try {
      const list = await (await this.client()).flavors(this.cfg.cc_flavor_context, signal)
      const map = new Map<string, Flavor & {apiName: string}>()
      for (const f of list) {
        if (!f.available || !f.name.startsWith(prefix) || !(f.mem > 0)) continue
        const name = f.name.slice(prefix.length)
        map.set(name, {...makeFlavor(name, f.mem, f.cpus), apiName: f.name})
      }
      this.flavorCache = {at: this.deps.now(), map}
      return map
    } catch (error) {
      if (this.flavorCache) {
        this.deps.log.warn('cannot refresh the Clever Cloud flavors; using the cached list', {
          error: (error as Error).message,
        })
        return this.flavorCache.map
      }
      throw error
    }
  }

  /** Also checks `cc_default_flavor`: a runner whose default flavor does not exist can run no job without the variable. */
  async minRequestableWeight(signal?: AbortSignal): Promise<number> {
    const flavors = await this.flavorMap(signal)
    if (!flavors.has(this.cfg.cc_default_flavor))
      throw new FlavorConfigError(`runners[${this.runner.index}].cc_default_flavor`, this.cfg.cc_default_flavor, [
        ...flavors.keys(),
      ])
    return minRequestableWeight(flavors, this.cfg.cc_max_flavor, `runners[${this.runner.index}].cc_max_flavor`)
  }

  private async selectFlavor(job: JobPayload, signal?: AbortSignal): Promise<Flavor & {apiName: string}> {
    const flavors = await this.flavorMap(signal)
    const wanted = jobVariable(job, FLAVOR_VARIABLE) ?? this.cfg.cc_default_flavor
    const f = flavors.get(wanted)
    if (!f) {
      throw new JobRejectedError(
        'unknown_flavor',
        `Selected flavor '${wanted}' is not available, possible choices are ${[...flavors.keys()].join(', ')}`,
        {jobId: job.id},
      )
    }
    const max = this.cfg.cc_max_flavor ? flavors.get(this.cfg.cc_max_flavor) : undefined
    if (max && f.weight > max.weight + 1e-9) {
      throw new JobRejectedError(
        'flavor_above_max',
        `Selected flavor '${wanted}' is above the maximum flavor '${max.name}' of this runner; set ${FLAVOR_VARIABLE} to a smaller flavor or use another runner`,
        {jobId: job.id},
      )
    }
    return f
  }

  async expectedWeight(job: JobPayload, signal?: AbortSignal): Promise<number> {
    return (await this.selectFlavor(job, signal)).weight
  }

  private async instanceVersion(signal?: AbortSignal, refresh = false): Promise<string> {
    if (!refresh && this.instanceCache && this.deps.now() - this.instanceCache.at < FLAVORS_TTL_MS)
      return this.instanceCache.version
    const list = await (await this.client()).instances(signal)
    const docker = list
      .filter((r) => r.enabled !== false && (r.name === 'Docker' || r.variant?.slug === 'docker'))
      .sort((a, b) => (a.version < b.version ? 1 : -1))[0]
    if (!docker)
      throw new PaasRunnerError('clever_no_docker', 'the Clever Cloud catalogue has no Docker instance type', {
        retryable: true,
      })
    this.instanceCache = {at: this.deps.now(), version: docker.version}
    return docker.version
  }

  // ---- organisations ----------------------------------------------------------------------

  private authFor(token: string): CleverAuth {
    const c = this.cfg
    if (c.cc_auth_scheme === 'bearer') return {scheme: 'bearer', token}
    if (c.cc_auth_scheme === 'oauth1')
      return {
        scheme: 'oauth1',
        consumerKey: c.cc_oauth_consumer_key!,
        consumerSecret: c.cc_oauth_consumer_secret!,
        token,
        tokenSecret: c.cc_oauth_token_secret!,
      }
    return {scheme: 'token', token}
  }

  /** The organisation of a job (or of a recorded resource): fixed, or from its top-level group's attributes. */
  private async orga(namespace: string | null | undefined, jobId?: number, signal?: AbortSignal): Promise<Orga> {
    const c = this.cfg
    if (!c.cc_multi_tenant) {
      const auth = this.authFor(c.cc_token!)
      // OAuth: the git password is the token secret; otherwise the organisation token, with cc_auth_user.
      return {
        orgaId: c.cc_orga_id!,
        auth,
        namespace: null,
        gitUser: c.cc_auth_scheme === 'oauth1' ? c.cc_token! : c.cc_auth_user,
        gitPassword: c.cc_auth_scheme === 'oauth1' ? c.cc_oauth_token_secret! : c.cc_token!,
      }
    }
    if (!namespace)
      throw new JobRejectedError(
        'find_orga',
        `the job has no ${NAMESPACE_VARIABLE} variable: cannot find its Clever Cloud organisation`,
        jobId === undefined ? {} : {jobId},
      )
    const attrs = await this.attributes(namespace, jobId, signal)
    const orgaId = attrs[c.cc_orga_id_attribute]
    const token = attrs[c.cc_orga_token_attribute]
    const missing = [orgaId ? undefined : c.cc_orga_id_attribute, token ? undefined : c.cc_orga_token_attribute].filter(
      Boolean,
    )
    if (missing.length > 0) {
      throw new JobRejectedError(
        'find_orga',
        `namespace=${namespace}: missing custom attribute ${missing.join(' and ')} on the top-level group: cannot find its Clever Cloud organisation`,
        jobId === undefined ? {} : {jobId},
      )
    }
    this.deps.addSecret(token!)
    this.namespaces.add(namespace)
    return {
      orgaId: orgaId!,
      auth: {scheme: 'token', token: token!},
      namespace,
      gitUser: c.cc_auth_user,
      gitPassword: token!,
    }
  }

  private async attributes(
    namespace: string,
    jobId: number | undefined,
    signal?: AbortSignal,
  ): Promise<Record<string, string>> {
    const cached = this.attributeCache.get(namespace)
    if (cached && this.deps.now() - cached.at < ATTRIBUTES_TTL_MS) return cached.attrs
    if (!this.deps.groupAttributes)
      throw new PaasRunnerError(
        'find_orga',
        'multi-tenant mode needs access to group custom attributes, which this host does not provide',
      )
    try {
      const attrs = await this.deps.groupAttributes(namespace, this.cfg.cc_gitlab_namespace_attributes_token!, signal)
      this.attributeCache.set(namespace, {at: this.deps.now(), attrs})
      return attrs
    } catch (error) {
      throw new JobRejectedError(
        'find_orga',
        `namespace=${namespace}: cannot read the group's custom attributes: ${(error as Error).message}`,
        {...(jobId === undefined ? {} : {jobId}), cause: error},
      )
    }
  }

  // ---- provision, launch, decommission ----------------------------------------------------

  async provision(
    job: JobPayload,
    opts: {signal?: AbortSignal; onCreated?: (r: Resource) => Promise<void>},
  ): Promise<Resource> {
    const {signal} = opts
    const owner = requireOwner(this.deps.owner)
    const flavor = await this.selectFlavor(job, signal)
    const org = await this.orga(jobVariable(job, NAMESPACE_VARIABLE), job.id, signal)
    const name = resourceName(this.uniqueName, job.id)
    // Idempotent per job: after a crash the app may exist already. Only an app with our marker is ours.
    const found = await this.knownApps(org).find(name, signal)
    if (found && !sameOwner(parseOwnerMarker(found.description), owner)) {
      throw new JobRejectedError(
        'name_taken',
        `an application named ${name} exists in the organisation but is not ours (no ownership marker of this runner): it is left alone and this job cannot run`,
        {jobId: job.id, resourceId: found.id},
      )
    }
    const app = found ?? (await this.create(org, name, flavor.apiName, signal))
    const resource = this.toResource(app, org, flavor.name, flavor.weight)
    await opts.onCreated?.(resource)
    // The environment goes with the create request; an app found again (created before a crash,
    // or a ghost of an ambiguous create) gets it again, so no push ever reaches an app without it.
    if (!this.createdWithEnv.has(app.id)) await this.applyEnv(org, app.id, signal)
    return resource
  }

  /** The application environment every job needs (clever-api.md §3.1: `env` at create, or PUT …/env). */
  private environment(): Record<string, string> {
    return Object.fromEntries(
      Object.entries({CC_MOUNT_DOCKER_SOCKET: 'true', ...this.cfg.cc_extra_env}).map(([k, v]) => [k, String(v)]),
    )
  }

  private async applyEnv(org: Orga, appId: string, signal?: AbortSignal): Promise<void> {
    await (await this.client()).putEnv(org.orgaId, org.auth, appId, this.environment(), signal)
    this.createdWithEnv.add(appId)
  }

  private async create(org: Orga, name: string, apiFlavor: string, signal?: AbortSignal): Promise<CleverAppWire> {
    const body = async (refresh: boolean): Promise<Record<string, unknown>> => ({
      name,
      description: formatOwnerMarker(requireOwner(this.deps.owner)),
      zone: this.cfg.cc_zone,
      deploy: 'git',
      instanceType: 'docker',
      instanceVersion: await this.instanceVersion(signal, refresh),
      instanceVariant: this.cfg.cc_instance_variant_uuid,
      instanceLifetime: 'TASK',
      minInstances: 1,
      maxInstances: 1,
      minFlavor: apiFlavor,
      maxFlavor: apiFlavor,
      env: this.environment(),
    })
    let refreshed = false
    const known = this.knownApps(org)
    for (let attempt = 1; ; attempt++) {
      try {
        known.creating(name)
        const app = await (await this.client()).createApp(org.orgaId, org.auth, await body(refreshed), signal)
        known.created(app)
        this.createdWithEnv.add(app.id)
        return app
      } catch (error) {
        known.createFailed(name)
        if (!(error instanceof CleverApiError)) throw error
        if (error.cleverCode === 9017 && !refreshed) {
          // Stale Docker version in our cache: refresh it, once.
          refreshed = true
          continue
        }
        // A create answered 2xx without the fields we need did create something: find it by name.
        if (error.malformed) {
          const created = (await (await this.client()).listApps(org.orgaId, org.auth, signal)).find(
            (a) => a.name === name && sameOwner(parseOwnerMarker(a.description), requireOwner(this.deps.owner)),
          )
          if (created) {
            known.created(created)
            return created
          }
          throw error
        }
        if (!error.retryable || attempt >= 3) throw error
        // A create is never retried blindly: it may have succeeded on the other side.
        const ghost = (await (await this.client()).listApps(org.orgaId, org.auth, signal)).find(
          (a) => a.name === name && sameOwner(parseOwnerMarker(a.description), requireOwner(this.deps.owner)),
        )
        if (ghost) {
          known.created(ghost)
          return ghost
        }
        await this.deps.sleep(1000 * attempt, signal)
      }
    }
  }

  /** `fallbackWeight`: the weight of the flavor asked for, when the answer does not say the app's memory. */
  private toResource(app: CleverAppWire, org: Orga, flavor: string, fallbackWeight = 0): Resource {
    const mem = app.instance?.maxFlavor?.mem
    const weight = mem !== undefined && mem > 0 ? makeFlavor(flavor, mem).weight : fallbackWeight
    const deployUrl = app.deployment?.httpUrl ?? app.deployUrl?.replace(/^git\+ssh:\/\/[^@]*@/, 'https://') ?? ''
    return {id: app.id, name: app.name, weight, flavor, launched: false, data: {namespace: org.namespace, deployUrl}}
  }

  async launch(resource: Resource, job: JobPayload, opts: {signal?: AbortSignal}): Promise<Resource> {
    if (resource.launched) return resource
    const {signal} = opts
    const org = await this.orga(resource.data.namespace as string | null, job.id, signal)
    if (!this.createdWithEnv.has(resource.id)) await this.applyEnv(org, resource.id, signal)
    await this.waitRepoCreated(org, resource.id, signal)
    // Checked here, right before git and the credentials use it: it came from an API answer and went through the state file.
    const deployUrl = checkDeployUrl(resource.data.deployUrl, this.cfg.cc_api_url, {
      jobId: job.id,
      resourceId: resource.id,
    })
    const basicAuth = Buffer.from(`${org.gitUser}:${org.gitPassword}`).toString('base64')
    this.deps.addSecret(basicAuth)
    const pushed = await pushBuildContext(this.contexts.files(job), {
      url: deployUrl,
      basicAuth,
      ...(signal ? {signal} : {}),
    })
    if (!pushed)
      this.deps.log.warn(
        'the deployment branch already exists: the job was launched before (probably before a restart)',
        {resource: resource.id, job: job.id},
      )
    return {...resource, launched: true}
  }

  private async waitRepoCreated(org: Orga, appId: string, signal?: AbortSignal): Promise<void> {
    const deadline = this.deps.now() + this.cfg.cc_deployment_repo_timeout * 1000
    for (;;) {
      const app = await (await this.client()).getApp(org.orgaId, org.auth, appId, signal)
      const state = app.deployment?.repoState
      if (state === undefined)
        throw new PaasRunnerError(
          'clever_wait_deployability',
          `application ${appId}: no deployment.repoState in the answer`,
          {resourceId: appId},
        )
      if (state === 'CREATED') return
      if (this.deps.now() >= deadline) {
        throw new PaasRunnerError(
          'clever_repo_not_ready',
          `application ${appId}: deployment repository still ${state} after ${this.cfg.cc_deployment_repo_timeout} s`,
          {resourceId: appId, retryable: true},
        )
      }
      await this.deps.sleep(this.cfg.cc_deployment_repo_wait_step * 1000, signal)
    }
  }

  async decommission(resource: Resource, opts: {signal?: AbortSignal}): Promise<DecommissionOutcome> {
    const org = await this.orga(resource.data.namespace as string | null, undefined, opts.signal)
    const outcome = await (await this.client()).deleteApp(org.orgaId, org.auth, resource.id, opts.signal)
    this.known.get(org.orgaId)?.deleted(resource.id)
    return outcome
  }

  async listOwned(opts: {signal?: AbortSignal}): Promise<OwnedListing> {
    const owner = requireOwner(this.deps.owner)
    const prefix = resourceNamePrefix(this.uniqueName)
    const orgs: Orga[] = this.cfg.cc_multi_tenant
      ? await Promise.all([...this.namespaces].map((ns) => this.orga(ns, undefined, opts.signal)))
      : [await this.orga(null)]
    const listing: OwnedListing = {owned: [], unmarked: []}
    for (const org of orgs) {
      for (const app of await (await this.client()).listApps(org.orgaId, org.auth, opts.signal)) {
        const marker = parseOwnerMarker(app.description)
        const named = app.name.startsWith(prefix)
        const jobId = jobIdFromResourceName(this.uniqueName, app.name)
        const ids = {id: app.id, name: app.name, ...(jobId === undefined ? {} : {jobId})}
        if (sameOwner(marker, owner)) {
          const flavorName =
            app.instance?.maxFlavor?.name?.replace(
              this.cfg.cc_flavor_name_prefix ?? `${this.cfg.cc_flavor_context}-`,
              '',
            ) ?? ''
          listing.owned.push({...ids, resource: this.toResource(app, org, flavorName)})
        } else if (named && marker === undefined) listing.unmarked.push(ids)
      }
    }
    return listing
  }

  serialise(r: Resource): Json {
    return {
      id: r.id,
      name: r.name,
      weight: r.weight,
      flavor: r.flavor ?? null,
      launched: r.launched,
      namespace: (r.data.namespace as string | null) ?? null,
      deployUrl: String(r.data.deployUrl ?? ''),
    }
  }

  restore(dump: Json): Resource {
    const parsed = dumpSchema.safeParse(dump)
    if (!parsed.success)
      throw new PaasRunnerError(
        'clever_dump',
        `the recorded resource cannot be read: ${describeAnswerIssues(parsed.error)}`,
      )
    const d = parsed.data
    const namespace = d.namespace ?? d.gitlab_namespace ?? null
    if (namespace) this.namespaces.add(namespace)
    return {
      id: d.id,
      name: d.name ?? '',
      // The original wrote no weight in old dumps: its worst case was 32768; the heaviest flavor is a saner one.
      weight: d.weight ?? this.flavorCache?.map.get(this.cfg.cc_max_flavor ?? '')?.weight ?? 76.109,
      launched: d.launched,
      data: {namespace, deployUrl: d.deployUrl ?? d.deploy_url ?? ''},
      ...(d.flavor ? {flavor: d.flavor} : {}),
    }
  }
}

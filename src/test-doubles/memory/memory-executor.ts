import {z} from 'zod'

import {
  JobRejectedError,
  defineExecutor,
  jobIdFromResourceName,
  jobVariable,
  makeFlavor,
  minRequestableWeight,
  requireOwner,
  resourceName,
  resourceNamePrefix,
  sameOwner,
  type DecommissionOutcome,
  type Executor,
  type ExecutorDeps,
  type Flavor,
  type JobPayload,
  type Json,
  type OwnedListing,
  type Resource,
  type RunnerConfig,
} from '@heptapod-paas-runner/plugin-api'

import {DirCloud} from './dir-cloud.js'
import {memoryCloud, type CloudBackend} from './memory-cloud.js'

/** Same sizes as Clever's heptapod-runner flavors, so the same jobs and quotas work on both. */
export const MEMORY_FLAVORS: readonly Flavor[] = [
  makeFlavor('XS', 2048, 1),
  makeFlavor('S', 4096, 2),
  makeFlavor('M', 8192, 4),
  makeFlavor('L', 12288, 6),
  makeFlavor('XL', 16384, 8),
  makeFlavor('2XL', 24576, 12),
  makeFlavor('3XL', 32768, 16),
]

/** Job variable choosing the flavor, as for clever-docker. */
export const FLAVOR_VARIABLE = 'CI_CLEVER_CLOUD_FLAVOR'

const flavorName = z.string().refine((f) => MEMORY_FLAVORS.some((x) => x.name === f), {
  message: `must be one of ${MEMORY_FLAVORS.map((f) => f.name).join(', ')}`,
})

export const memoryConfigSchema = z.object({
  /** Name of the process-wide simulated cloud this runner uses. */
  memory_cloud: z.string().min(1).default('default'),
  /** Keep the simulated cloud in this directory instead (it then survives the daemon: crash tests). */
  memory_cloud_dir: z.string().min(1).optional(),
  /** Flavor of jobs that do not ask for one. */
  memory_default_flavor: flavorName.default('M'),
  /** Heaviest flavor a job may ask for. */
  memory_max_flavor: flavorName.optional(),
})

export type MemoryConfig = z.infer<typeof memoryConfigSchema>

export class MemoryExecutor implements Executor {
  readonly name = 'memory'
  readonly uniqueName: string
  readonly cloud: CloudBackend
  private readonly flavorMap = new Map(MEMORY_FLAVORS.map((f) => [f.name, f]))

  constructor(
    private readonly runner: RunnerConfig<MemoryConfig>,
    private readonly deps: ExecutorDeps,
  ) {
    this.uniqueName = runner.uniqueName
    const dir = runner.executorConfig.memory_cloud_dir
    this.cloud = dir ? new DirCloud(dir) : memoryCloud(runner.executorConfig.memory_cloud)
  }

  async flavors(): Promise<ReadonlyMap<string, Flavor>> {
    return this.flavorMap
  }

  async minRequestableWeight(): Promise<number> {
    return minRequestableWeight(
      this.flavorMap,
      this.runner.executorConfig.memory_max_flavor,
      `runners[${this.runner.index}].memory_max_flavor`,
    )
  }

  /** The job's flavor, checked against the known flavors and the max flavor. */
  selectFlavor(job: JobPayload): Flavor {
    const wanted = jobVariable(job, FLAVOR_VARIABLE) ?? this.runner.executorConfig.memory_default_flavor
    const f = this.flavorMap.get(wanted)
    if (!f) {
      throw new JobRejectedError(
        'unknown_flavor',
        `Selected flavor '${wanted}' is not available, possible choices are ${[...this.flavorMap.keys()].join(', ')}`,
        {jobId: job.id},
      )
    }
    const max = this.runner.executorConfig.memory_max_flavor
    if (max && f.weight > this.flavorMap.get(max)!.weight) {
      throw new JobRejectedError(
        'flavor_above_max',
        `Selected flavor '${wanted}' is above the maximum flavor '${max}' of this runner; set ${FLAVOR_VARIABLE} to a smaller flavor or use another runner`,
        {jobId: job.id},
      )
    }
    return f
  }

  async expectedWeight(job: JobPayload): Promise<number> {
    return this.selectFlavor(job).weight
  }

  async provision(
    job: JobPayload,
    opts: {signal?: AbortSignal; onCreated?: (r: Resource) => Promise<void>},
  ): Promise<Resource> {
    opts.signal?.throwIfAborted()
    const flavor = this.selectFlavor(job)
    const owner = requireOwner(this.deps.owner)
    const name = resourceName(this.uniqueName, job.id)
    const existing = this.cloud.findByName(name)
    if (existing && !sameOwner(existing.owner, owner)) {
      throw new JobRejectedError(
        'name_taken',
        `a resource named ${name} exists but is not ours (no ownership marker of this runner): it is left alone and this job cannot run`,
        {jobId: job.id, resourceId: existing.id},
      )
    }
    if (existing) return toResource(existing)
    this.cloud.checkFault('provision')
    const created = toResource(this.cloud.create(name, flavor.name, flavor.weight, job.id, owner))
    await opts.onCreated?.(created)
    return created
  }

  async launch(resource: Resource, job: JobPayload, opts: {signal?: AbortSignal}): Promise<Resource> {
    opts.signal?.throwIfAborted()
    const r = this.cloud.get(resource.id)
    if (!r)
      throw new JobRejectedError('resource_gone', `resource ${resource.id} does not exist any more`, {
        jobId: job.id,
        resourceId: resource.id,
      })
    if (r.launched) {
      this.deps.log.warn('resource already launched; counting the job as launched', {resource: r.id, job: job.id})
      return {...resource, launched: true}
    }
    this.cloud.checkFault('launch')
    this.cloud.markLaunched(r.id, job)
    return {...resource, launched: true}
  }

  async decommission(resource: Resource, opts: {signal?: AbortSignal}): Promise<DecommissionOutcome> {
    opts.signal?.throwIfAborted()
    this.cloud.checkFault('decommission')
    return this.cloud.delete(resource.id) ? 'deleted' : 'absent'
  }

  async listOwned(opts: {signal?: AbortSignal}): Promise<OwnedListing> {
    opts.signal?.throwIfAborted()
    const owner = requireOwner(this.deps.owner)
    this.cloud.checkFault('list')
    const prefix = resourceNamePrefix(this.uniqueName)
    const listing: OwnedListing = {owned: [], unmarked: []}
    for (const r of this.cloud.list()) {
      const jobId = jobIdFromResourceName(this.uniqueName, r.name)
      const ids = {id: r.id, name: r.name, ...(jobId === undefined ? {} : {jobId})}
      if (sameOwner(r.owner, owner)) listing.owned.push({...ids, resource: toResource(r)})
      else if (r.owner === undefined && r.name.startsWith(prefix)) listing.unmarked.push(ids)
    }
    return listing
  }

  serialise(resource: Resource): Json {
    return {
      id: resource.id,
      name: resource.name,
      weight: resource.weight,
      flavor: resource.flavor ?? null,
      launched: resource.launched,
    }
  }

  restore(dump: Json): Resource {
    const d = dumpSchema.parse(dump)
    return {
      id: d.id,
      name: d.name,
      weight: d.weight,
      launched: d.launched,
      data: {},
      ...(d.flavor ? {flavor: d.flavor} : {}),
    }
  }
}

const dumpSchema = z.object({
  id: z.string(),
  name: z.string(),
  weight: z.number(),
  flavor: z.string().nullable().optional(),
  launched: z.boolean(),
})

function toResource(r: {id: string; name: string; weight: number; flavor: string; launched: boolean}): Resource {
  return {id: r.id, name: r.name, weight: r.weight, flavor: r.flavor, launched: r.launched, data: {}}
}

export const memoryExecutorFactory = defineExecutor({
  name: 'memory',
  description:
    'in-memory simulated PAAS, a test double for the tests and benchmarks (nothing real is created, no job really runs)',
  audience: 'testing',
  configSchema: memoryConfigSchema,
  staticFlavors: MEMORY_FLAVORS,
  registration: {referenceFlavor: 'M', maxFlavorKey: 'memory_max_flavor', questions: []},
  create: (runner, deps) => new MemoryExecutor(runner, deps),
})

import {randomUUID} from 'node:crypto'
import {access, mkdir, readdir, readFile, rename, rm, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import {
  JobRejectedError,
  formatOwnerMarker,
  jobIdFromResourceName,
  jobVariable,
  minRequestableWeight,
  parseOwnerMarker,
  requireOwner,
  resourceName,
  resourceNamePrefix,
  sameOwner,
  writeBuildContext,
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
import {z} from 'zod'

import {DIR_FLAVORS, FLAVOR_VARIABLE, type DirConfig} from './dir-config.js'

/** The file in a resource that holds its ownership marker, as a PAAS keeps a label or a description. */
const MARKER_FILE = 'owner'
/** Present once the job was handed over (a real PAAS: the deployment was pushed). */
const LAUNCHED_FILE = 'launched'

/**
 * A "PAAS" made of directories: each job gets `<example_dir_root>/hpd-job-<unique name>-<job id>/`,
 * and launching it writes the build context (Dockerfile, runner.toml, job.json) there. Replace the
 * file operations with your PAAS's API calls; keep the rest (ownership, idempotency, signals).
 */
export class DirExecutor implements Executor {
  readonly name = 'example-dir'
  readonly uniqueName: string
  private readonly root: string
  private readonly flavorMap = new Map(DIR_FLAVORS.map((f) => [f.name, f]))

  constructor(
    private readonly runner: RunnerConfig<DirConfig>,
    private readonly deps: ExecutorDeps,
  ) {
    this.uniqueName = runner.uniqueName
    this.root = runner.executorConfig.example_dir_root
  }

  async flavors(): Promise<ReadonlyMap<string, Flavor>> {
    return this.flavorMap
  }

  async minRequestableWeight(): Promise<number> {
    return minRequestableWeight(this.flavorMap)
  }

  private flavorOf(job: JobPayload): Flavor {
    const wanted = jobVariable(job, FLAVOR_VARIABLE) ?? this.runner.executorConfig.example_dir_default_flavor
    const f = this.flavorMap.get(wanted)
    // A rejection: the host fails the job with this message and creates nothing for it.
    if (!f)
      throw new JobRejectedError(
        'unknown_flavor',
        `flavor '${wanted}' is not available; choose one of ${[...this.flavorMap.keys()].join(', ')}`,
        {jobId: job.id},
      )
    return f
  }

  async expectedWeight(job: JobPayload): Promise<number> {
    return this.flavorOf(job).weight
  }

  async provision(
    job: JobPayload,
    opts: {signal?: AbortSignal; onCreated?: (r: Resource) => Promise<void>},
  ): Promise<Resource> {
    opts.signal?.throwIfAborted()
    const flavor = this.flavorOf(job)
    const owner = requireOwner(this.deps.owner)
    const name = resourceName(this.uniqueName, job.id)
    const dir = join(this.root, name)
    const marker = await readMarker(dir)
    if (marker === 'absent') {
      // Made complete (marker inside) under a temporary name, then renamed: a crash never leaves an unmarked resource.
      const tmp = join(this.root, `.tmp-${randomUUID()}`)
      await mkdir(tmp, {recursive: true})
      await writeFile(
        join(tmp, MARKER_FILE),
        `${formatOwnerMarker(owner)}\n${JSON.stringify({flavor: flavor.name, weight: flavor.weight})}\n`,
      )
      await rename(tmp, dir)
    } else if (!sameOwner(marker, owner)) {
      // Same name, someone else's (or nobody's) marker: never adopt it.
      throw new JobRejectedError(
        'name_taken',
        `a resource named ${name} exists but is not ours; it is left alone and this job cannot run`,
        {jobId: job.id, resourceId: name},
      )
    }
    const r: Resource = {
      id: name,
      name,
      weight: flavor.weight,
      flavor: flavor.name,
      launched: await exists(join(dir, LAUNCHED_FILE)),
      data: {},
    }
    // Awaited before anything else happens: the host records the resource so that it is never orphaned.
    if (marker === 'absent') {
      await opts.onCreated?.(r)
      // A line for the job's log in GitLab (shown if the host fails the job; always in the daemon's log).
      this.deps.jobLog?.(job.id, `example-dir: directory ${name} created (flavor ${flavor.name})`)
    }
    return r
  }

  async launch(resource: Resource, job: JobPayload, opts: {signal?: AbortSignal}): Promise<Resource> {
    opts.signal?.throwIfAborted()
    const dir = join(this.root, resource.id)
    if (!(await exists(dir)))
      throw new JobRejectedError('resource_gone', `resource ${resource.id} does not exist any more`, {
        jobId: job.id,
        resourceId: resource.id,
      })
    if (await exists(join(dir, LAUNCHED_FILE))) return {...resource, launched: true}
    await writeBuildContext(join(dir, 'context'), this.runner, job)
    await writeFile(join(dir, LAUNCHED_FILE), '')
    this.deps.log.info('job handed over', {resource: resource.id, job: job.id})
    return {...resource, launched: true}
  }

  async decommission(resource: Resource, opts: {signal?: AbortSignal}): Promise<DecommissionOutcome> {
    opts.signal?.throwIfAborted()
    const dir = join(this.root, resource.id)
    if (!(await exists(dir))) return 'absent'
    await rm(dir, {recursive: true, force: true})
    return 'deleted'
  }

  async listOwned(opts: {signal?: AbortSignal}): Promise<OwnedListing> {
    opts.signal?.throwIfAborted()
    const owner = requireOwner(this.deps.owner)
    const prefix = resourceNamePrefix(this.uniqueName)
    const listing: OwnedListing = {owned: [], unmarked: []}
    const names = await readdir(this.root).catch((e: NodeJS.ErrnoException) =>
      e.code === 'ENOENT' ? [] : Promise.reject(e),
    )
    for (const name of names) {
      if (name.startsWith('.tmp-')) continue
      const dir = join(this.root, name)
      const marker = await readMarker(dir)
      const jobId = jobIdFromResourceName(this.uniqueName, name)
      const ids = {id: name, name, ...(jobId === undefined ? {} : {jobId})}
      if (marker !== 'absent' && sameOwner(marker, owner)) {
        const meta = await readMeta(dir)
        const launched = await exists(join(dir, LAUNCHED_FILE))
        listing.owned.push({
          ...ids,
          resource: {id: name, name, weight: meta.weight, flavor: meta.flavor, launched, data: {}},
        })
      } else if (marker === undefined && name.startsWith(prefix)) {
        listing.unmarked.push(ids)
      }
    }
    return listing
  }

  serialise(resource: Resource): Json {
    // No secret here: credentials are read again from runner.executorConfig after a restart.
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
  id: z.string().min(1),
  name: z.string().min(1),
  weight: z.number().positive(),
  flavor: z.string().nullish(),
  launched: z.boolean(),
})

const metaSchema = z.object({flavor: z.string(), weight: z.number().positive()})

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  )
}

/** The resource's marker; `undefined` when it has none, `'absent'` when there is no such resource. */
async function readMarker(dir: string): Promise<ReturnType<typeof parseOwnerMarker> | 'absent'> {
  if (!(await exists(dir))) return 'absent'
  const text = await readFile(join(dir, MARKER_FILE), 'utf8').catch(() => '')
  return parseOwnerMarker(text.split('\n')[0])
}

async function readMeta(dir: string): Promise<z.output<typeof metaSchema>> {
  const text = await readFile(join(dir, MARKER_FILE), 'utf8')
  return metaSchema.parse(JSON.parse(text.split('\n')[1] ?? 'null'))
}

import type {JobPayload, OwnerMarker} from '@heptapod-paas-runner/plugin-api'

/** One resource living in the simulated cloud. */
export interface MemoryResource {
  id: string
  name: string
  flavor: string
  weight: number
  launched: boolean
  jobId: number
  /** Ownership marker, as a real PAAS keeps it with the resource (absent: made by someone else, or by the original). */
  owner?: OwnerMarker
}

export type MemoryOperation = 'provision' | 'launch' | 'decommission' | 'list'

/** Where the memory executor keeps its resources: in the process, or in a directory. */
export interface CloudBackend {
  findByName(name: string): MemoryResource | undefined
  get(id: string): MemoryResource | undefined
  create(name: string, flavor: string, weight: number, jobId: number, owner?: OwnerMarker): MemoryResource
  markLaunched(id: string, job: JobPayload): void
  delete(id: string): boolean
  list(): MemoryResource[]
  /** Throws the next injected fault for `op`, if any. */
  checkFault(op: MemoryOperation): void
}

/**
 * A simulated PAAS shared by every memory executor of the process that names it.
 * Tests use it to see what exists and to inject faults.
 */
export class MemoryCloud implements CloudBackend {
  readonly resources = new Map<string, MemoryResource>()
  /** Every create and delete, in order, with the live weight after it: lets tests check the quota held. */
  readonly timeline: Array<{op: 'create' | 'delete'; id: string; liveWeight: number}> = []
  /** Called when a job is launched: the test plays the inner runner. */
  onLaunch?: (resource: MemoryResource, job: JobPayload) => void
  private readonly faults = new Map<MemoryOperation, Error[]>()
  private nextId = 1
  createdCount = 0

  /** The next `count` calls of `op` throw `error`. */
  failNext(op: MemoryOperation, error: Error, count = 1): void {
    const list = this.faults.get(op) ?? []
    for (let i = 0; i < count; i++) list.push(error)
    this.faults.set(op, list)
  }

  /** Throws the next injected fault for `op`, if any. */
  checkFault(op: MemoryOperation): void {
    const err = this.faults.get(op)?.shift()
    if (err) throw err
  }

  create(name: string, flavor: string, weight: number, jobId: number, owner?: OwnerMarker): MemoryResource {
    const r: MemoryResource = {
      id: `mem_${this.nextId++}`,
      name,
      flavor,
      weight,
      launched: false,
      jobId,
      ...(owner ? {owner} : {}),
    }
    this.resources.set(r.id, r)
    this.createdCount++
    this.timeline.push({op: 'create', id: r.id, liveWeight: this.liveWeight()})
    return r
  }

  delete(id: string): boolean {
    const existed = this.resources.delete(id)
    if (existed) this.timeline.push({op: 'delete', id, liveWeight: this.liveWeight()})
    return existed
  }

  get(id: string): MemoryResource | undefined {
    return this.resources.get(id)
  }

  markLaunched(id: string, job: JobPayload): void {
    const r = this.resources.get(id)
    if (!r) throw new Error(`resource ${id} does not exist`)
    r.launched = true
    this.onLaunch?.(r, job)
  }

  list(): MemoryResource[] {
    return [...this.resources.values()]
  }

  findByName(name: string): MemoryResource | undefined {
    for (const r of this.resources.values()) if (r.name === name) return r
    return undefined
  }

  liveWeight(): number {
    let w = 0
    for (const r of this.resources.values()) w += r.weight
    return w
  }

  /** Highest live weight ever seen. */
  peakWeight(): number {
    return this.timeline.reduce((m, e) => Math.max(m, e.liveWeight), 0)
  }
}

const clouds = new Map<string, MemoryCloud>()

/** The process-wide cloud of that name, created on first use. */
export function memoryCloud(name = 'default'): MemoryCloud {
  let c = clouds.get(name)
  if (!c) {
    c = new MemoryCloud()
    clouds.set(name, c)
  }
  return c
}

/** Forgets a cloud (tests). */
export function dropMemoryCloud(name: string): void {
  clouds.delete(name)
}

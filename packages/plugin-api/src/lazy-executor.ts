import type {DecommissionOutcome, Executor, Json, OwnedListing, Resource} from './executor.js'
import type {JobPayload} from './job-payload.js'
import type {Flavor} from './flavor.js'

/**
 * An executor whose implementation is imported on first use, so that commands which only read
 * the configuration (status, quota's validation) do not load HTTP clients, git or tar code.
 * `ready()` loads it; the synchronous methods (serialise, restore) need it loaded.
 */
export class LazyExecutor implements Executor {
  private impl: Executor | undefined
  private loading: Promise<Executor> | undefined

  constructor(
    readonly name: string,
    readonly uniqueName: string,
    private readonly load: () => Promise<Executor>,
  ) {}

  /** Loads the implementation (idempotent). */
  async ready(): Promise<Executor> {
    this.loading ??= this.load().then((e) => (this.impl = e))
    return this.loading
  }

  private loaded(): Executor {
    if (!this.impl) throw new Error(`executor ${this.name} is not loaded yet: await ready() first`)
    return this.impl
  }

  async flavors(signal?: AbortSignal): Promise<ReadonlyMap<string, Flavor>> {
    return (await this.ready()).flavors(signal)
  }

  async minRequestableWeight(signal?: AbortSignal): Promise<number> {
    return (await this.ready()).minRequestableWeight(signal)
  }

  async expectedWeight(job: JobPayload, signal?: AbortSignal): Promise<number> {
    return (await this.ready()).expectedWeight(job, signal)
  }

  async provision(
    job: JobPayload,
    opts: {signal?: AbortSignal; onCreated?: (r: Resource) => Promise<void>},
  ): Promise<Resource> {
    return (await this.ready()).provision(job, opts)
  }

  async launch(resource: Resource, job: JobPayload, opts: {signal?: AbortSignal}): Promise<Resource> {
    return (await this.ready()).launch(resource, job, opts)
  }

  async decommission(resource: Resource, opts: {signal?: AbortSignal}): Promise<DecommissionOutcome> {
    return (await this.ready()).decommission(resource, opts)
  }

  async listOwned(opts: {signal?: AbortSignal}): Promise<OwnedListing> {
    return (await this.ready()).listOwned(opts)
  }

  serialise(resource: Resource): Json {
    return this.loaded().serialise(resource)
  }

  restore(dump: Json): Resource {
    return this.loaded().restore(dump)
  }
}

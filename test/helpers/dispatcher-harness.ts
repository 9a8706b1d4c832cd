import {parseConfig} from '../../src/core/config/parse-config.js'
import {Dispatcher} from '../../src/core/dispatcher/dispatcher.js'
import type {DispatcherOptions} from '../../src/core/dispatcher/dispatcher-options.js'
import type {DispatcherEvent} from '../../src/core/events.js'
import type {Logger} from '../../src/core/logger.js'
import {StateStore} from '../../src/core/state/state-store.js'
import {dropMemoryCloud, memoryCloud, type MemoryCloud} from '../../src/test-doubles/memory/memory-cloud.js'
import {type MemoryExecutor, memoryExecutorFactory} from '../../src/test-doubles/memory/memory-executor.js'
import {testExecutors} from './executors.js'
import {FakeCoordinator} from './fake-coordinator.js'
import {ManualClock} from './manual-clock.js'
import {MemoryStateFile} from './memory-state-file.js'

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error'
  msg: string
  fields: Record<string, unknown>
}

export function captureLogger(lines: LogLine[], bindings: Record<string, unknown> = {}): Logger {
  const at =
    (level: LogLine['level']) =>
    (msg: string, fields: Record<string, unknown> = {}) =>
      void lines.push({level, msg, fields: {...bindings, ...fields}})
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (b) => captureLogger(lines, {...bindings, ...b}),
  }
}

export interface HarnessOptions {
  runners?: number
  concurrent?: number
  maxProvisioning?: number
  referenceFlavor?: string
  referenceJobs?: number
  maxFlavor?: string
  traceWatch?: boolean
  extraGlobals?: string
  /** Runner tokens (default `tok<i>abcd-runner-secret`, whose short token is `tok<i>abcd`). */
  tokens?: string[]
  options?: Partial<DispatcherOptions>
  /** GitLab as the dispatcher sees it (a FakeCoordinator subclass can change one answer). */
  coordinator?: FakeCoordinator
}

let cloudSeq = 0
/** The system id of every harness daemon: resources with this marker are the harness's own. */
export const HARNESS_SYSTEM_ID = 'r_harness'

/** A dispatcher over the memory executor, a fake GitLab, an in-memory state file and virtual time. */
export class Harness {
  readonly clock = new ManualClock()
  readonly gitlab: FakeCoordinator
  readonly logs: LogLine[] = []
  readonly events: DispatcherEvent[] = []
  readonly cloudName = `harness-${++cloudSeq}`
  readonly cloud: MemoryCloud = memoryCloud(this.cloudName)
  file = new MemoryStateFile()
  dispatcher!: Dispatcher
  store!: StateStore
  readonly tokens: string[]
  readonly toml: string
  /**
   * The resource-lifetime invariant, checked at every delete in the cloud: a resource whose job
   * GitLab still has pending or running must not be deleted. Violations collect here.
   */
  readonly earlyDeletes: Array<{resourceId: string; jobId: number; status: string}> = []
  /**
   * The write-ahead rule, checked at every side effect: acknowledging a job, creating, launching
   * and deleting a resource each need the announcing record already *synced* in the state file.
   */
  readonly writeAheadViolations: string[] = []
  constructor(readonly o: HarnessOptions = {}) {
    this.gitlab = o.coordinator ?? new FakeCoordinator()
    this.checkInvariants()
    const n = o.runners ?? 1
    this.tokens = o.tokens ?? Array.from({length: n}, (_, i) => `tok${i}abcd-runner-secret`)
    const runners = this.tokens
      .map(
        (t, i) => `
[[runners]]
  name = "r${i}"
  url = "https://gitlab${i}.example"
  token = "${t}"
  executor = "memory"
  memory_cloud = "${this.cloudName}"
${o.maxFlavor ? `  memory_max_flavor = "${o.maxFlavor}"\n` : ''}${o.traceWatch ? '  [runners.paas_job_trace_watch]\n    token = "glpat-watch-secret"\n    timeout_seconds = 300\n    poll_step = 10\n' : ''}`,
      )
      .join('')
    this.toml = `concurrent = ${o.concurrent ?? 50}
paas_max_concurrent_provisioning = ${o.maxProvisioning ?? 10}
${o.extraGlobals ?? ''}
[quota_computation]
  reference_runner = "r0"
  reference_flavor = "${o.referenceFlavor ?? '3XL'}"
  reference_jobs_count = ${o.referenceJobs ?? 2}
${runners}`
  }

  /** Phase of each job in what the state file has durably (replays the synced journal). */
  durablePhases(): Map<number, string> {
    const phases = new Map<number, string>()
    const keys = new Map<string, number>()
    for (const line of (this.file.durable ?? '').split('\n')) {
      if (!line) continue
      const e = JSON.parse(line) as {t: string; r?: {runner: string; jobId: number; phase: string}; k?: string}
      if (e.t === 'put') {
        phases.set(e.r!.jobId, e.r!.phase)
        keys.set(`${e.r!.runner}/${e.r!.jobId}`, e.r!.jobId)
      }
      if (e.t === 'del' && keys.has(e.k!)) phases.delete(keys.get(e.k!)!)
    }
    return phases
  }

  private checkInvariants(): void {
    const intent = (what: string, jobId: number, wanted: string[]): void => {
      const phase = this.durablePhases().get(jobId)
      if (!wanted.includes(phase ?? 'none'))
        this.writeAheadViolations.push(`${what} of job ${jobId} while the state file says ${phase ?? 'nothing'}`)
    }
    const {cloud, gitlab} = this
    const create = cloud.create.bind(cloud)
    cloud.create = (name, flavor, weight, jobId, owner) => {
      if (gitlab.jobs.has(jobId)) intent('create', jobId, ['provisioning'])
      return create(name, flavor, weight, jobId, owner)
    }
    const markLaunched = cloud.markLaunched.bind(cloud)
    cloud.markLaunched = (id, job) => {
      intent('launch', job.id, ['launching'])
      markLaunched(id, job)
    }
    const remove = cloud.delete.bind(cloud)
    cloud.delete = (id) => {
      const r = cloud.resources.get(id)
      const job = r ? gitlab.jobs.get(r.jobId) : undefined
      if (job && (job.status === 'pending' || job.status === 'running'))
        this.earlyDeletes.push({resourceId: id, jobId: job.id, status: job.status})
      // A resource of a job we track is deleted under a durable intent: decommissioning, or finished, which
      // already commits to the delete (a restart from it deletes). Orphans have no record.
      if (r && this.durablePhases().has(r.jobId)) intent('delete', r.jobId, ['decommissioning', 'finished'])
      return remove(id)
    }
    const confirm = gitlab.confirmJob.bind(gitlab)
    gitlab.confirmJob = async (runner, job) => {
      // Two-phase commit: acknowledge only what a crash cannot make us forget.
      intent('acknowledgement', job.id, ['acquired'])
      return confirm(runner, job)
    }
  }

  get config() {
    return parseConfig(this.toml, {file: 'harness.toml', executors: testExecutors, defaultStateFile: '/virtual/state'})
  }

  /** Opens the store (from the current file) and starts a dispatcher: a fresh process. */
  async start(): Promise<this> {
    const config = this.config
    const {store} = await StateStore.open(this.file, {now: this.clock.now})
    this.store = store
    const deps = {now: this.clock.now, sleep: this.clock.sleep, addSecret: () => {}, log: captureLogger(this.logs)}
    this.dispatcher = new Dispatcher({
      config,
      runners: config.runners.map((r) => ({
        config: r,
        executor: memoryExecutorFactory.create(r as never, {
          ...deps,
          owner: {systemId: HARNESS_SYSTEM_ID, runner: r.uniqueName},
        }) as MemoryExecutor,
      })),
      coordinator: this.gitlab,
      store,
      clock: this.clock,
      random: () => 0.5,
      logger: captureLogger(this.logs),
      options: {reportRetryDelayMs: 30_000, ...this.o.options},
    })
    this.dispatcher.events.on((e) => this.events.push(e))
    await this.dispatcher.start()
    return this
  }

  /** Simulates kill -9: the process is gone, only what was written *and synced* survives. */
  crash(): void {
    this.dispatcher.shutdown('simulated crash (test)').catch(() => {})
    this.file = new MemoryStateFile(this.file.durable)
  }

  async stop(): Promise<void> {
    const done = this.dispatcher.shutdown('test done')
    await this.clock.runUntil(() => true)
    await this.clock.advance(200_000)
    await done
  }

  dispose(): void {
    dropMemoryCloud(this.cloudName)
  }

  snapshot() {
    return this.dispatcher.snapshot()
  }

  info(re: RegExp): LogLine[] {
    return this.logs.filter((l) => re.test(l.msg))
  }
}

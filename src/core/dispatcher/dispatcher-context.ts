import type {Clock} from '../clock.js'
import {Notifier, sharedAbortController} from '../clock.js'
import type {Config, RunnerConfig} from '../config/config-types.js'
import {AbortedError} from '../coordinator/coordinator-errors.js'
import type {Coordinator, RunnerEndpoint} from '../coordinator/coordinator.js'
import {EventBus, type DispatcherEvent, type DispatcherSnapshot, type IntakeState} from '../events.js'
import type {Executor} from '../executor.js'
import type {Logger} from '../logger.js'
import {recordKey, type JobRecord} from '../state/job-record.js'
import type {ClusterPort} from '../state/cluster-port.js'
import type {JobStatePort} from '../state/state-port.js'
import {DEFAULT_DISPATCHER_OPTIONS, type DispatcherOptions} from './dispatcher-options.js'
import {RevisionMap} from '../revision-map.js'

export interface RunnerUnit {
  config: RunnerConfig
  executor: Executor
}

export interface DispatcherDeps {
  config: Config
  runners: RunnerUnit[]
  coordinator: Coordinator
  store: JobStatePort
  /** Several daemons on one database: the shared ledger, the leases, adoption (absent with the file journal). */
  cluster?: ClusterPort
  clock: Clock
  random(): number
  logger: Logger
  events?: EventBus
  /** Removes secrets from text that leaves the process (job log lines). */
  redact?(text: string): string
  /** Registers a secret (job tokens) with the process redactor. */
  addSecret?(secret: string): void
  /** The secret is no longer needed (its job is over): the redactor may forget it after a while. */
  retireSecret?(secret: string): void
  options?: Partial<DispatcherOptions>
}

/** One `[[runners]]` section at run time: its executor, its intake state, its reservation. */
export interface RunnerRuntime {
  unit: RunnerUnit
  name: string
  endpoint: RunnerEndpoint
  intake: IntakeState
  lastUpdate?: string
  minWeight?: number
  cycles: number
  /** Consecutive immediate re-polls that came back at once (long polling not holding). */
  quickNones: number
  /** The last answer came through Workhorse long polling. */
  longPolling: boolean
  warnedNoWatch: boolean
  /** Weight reserved by a job request in flight (undefined when none). */
  reserved?: number
  /** Since when it waits for its next poll: the runner that waited longest is served first. */
  waitingSince: number
  /** Removed from the configuration by a reload: takes no job, finishes its own, then goes. */
  retired: boolean
  /** Aborts this runner's job request in flight when a reload removes it. */
  stop: AbortController
  /** Bumped when a reload brings a removed runner back: an older intake loop then ends. */
  generation: number
}

/** What the pipeline of one job needs besides its record: its cancellation and whether it runs. */
export interface JobControl {
  /** Fires when GitLab says the job is over before it ran: stop provisioning or launching. */
  cancel: AbortController
  driving?: Promise<void>
  /** Set when the executor reports the resource failed (executor-reports.ts): the job fails with it. */
  lost?: string
  /** Lines the executor wrote for the job log, written when the job is failed (executor-reports.ts). */
  notes?: string[]
}

/**
 * What the dispatcher's parts share: the job table (the state store's records and a control per
 * job), the runners, the quota, the notifiers that wake loops, the stop signal, and the helpers
 * every part uses (clock, logging, events). The parts read and change it; nothing else does.
 */
export class DispatcherContext {
  readonly opts: DispatcherOptions
  readonly events: EventBus
  readonly runners: RunnerRuntime[]
  readonly byUnique = new RevisionMap<string, RunnerRuntime>()
  readonly controls = new Map<string, JobControl>()
  /** Notified when capacity may have been released: intake loops re-check their admission. */
  readonly capacity = new Notifier()
  /** Notified when a job became pollable: the progress loop looks again. */
  readonly progressWake = new Notifier()
  readonly stopController = sharedAbortController()
  quota: {total: number; explanation: string} | undefined
  readonly startedAt: number
  readonly totals = {acquired: 0, launched: 0, finished: 0, launchFailed: 0, decommissioned: 0}
  readonly recentFailures: DispatcherSnapshot['recentFailures'] = []
  stopping = false
  /** Intake paused by the operator (TUI `p`). */
  operatorPaused = false
  /** In a cluster: the state database does not answer (intake stops until it does). */
  clusterDown = false
  /** In a cluster: this daemon's lease expired; it acts on no job any more and stops. */
  leaseLost = false
  /** In a cluster: called when a part finds the state database away (set by the cluster membership). */
  stateUnreachable: () => void = () => {}
  /** Aborts the job requests in flight when the operator pauses intake. */
  intakeController = sharedAbortController()
  readonly redact: (s: string) => string
  /** The configuration in force: the constructor's, then each reload's (reload.ts). */
  config: Config

  constructor(readonly deps: DispatcherDeps) {
    this.config = deps.config
    this.opts = {...DEFAULT_DISPATCHER_OPTIONS, ...deps.options}
    this.events = deps.events ?? new EventBus()
    this.redact = deps.redact ?? ((s) => s)
    this.startedAt = deps.clock.now()
    this.runners = deps.runners.map((unit) => this.runtime(unit))
  }

  /** A runner's run-time state, registered under its unique name. */
  runtime(unit: RunnerUnit): RunnerRuntime {
    const rt: RunnerRuntime = {
      unit,
      name: unit.config.name ?? `runners[${unit.config.index}]`,
      endpoint: {url: unit.config.url, token: unit.config.token, uniqueName: unit.config.uniqueName},
      intake: {state: 'starting'},
      cycles: 0,
      quickNones: 0,
      longPolling: false,
      warnedNoWatch: false,
      waitingSince: this.deps.clock.now(),
      retired: false,
      stop: sharedAbortController(),
      generation: 0,
    }
    this.byUnique.set(unit.config.uniqueName, rt)
    return rt
  }

  get log(): Logger {
    return this.deps.logger
  }

  get store(): JobStatePort {
    return this.deps.store
  }

  get stopSignal(): AbortSignal {
    return this.stopController.signal
  }

  now(): number {
    return this.deps.clock.now()
  }

  /** Sleeps unless shutdown; never throws. */
  async sleep(ms: number): Promise<void> {
    try {
      await this.deps.clock.sleep(ms, this.stopSignal)
    } catch {
      // aborted by shutdown
    }
  }

  /** Sleeps; throws AbortedError on shutdown so the pipeline stops where it is. */
  async sleepOrThrow(ms: number): Promise<void> {
    try {
      await this.deps.clock.sleep(ms, this.stopSignal)
    } catch {
      throw new AbortedError('wait')
    }
  }

  emit(e: DispatcherEvent): void {
    this.events.emit(e)
  }

  emitPhase(r: JobRecord): void {
    this.emit({
      type: 'job-phase',
      runner: r.runner,
      jobId: r.jobId,
      phase: r.phase,
      weight: r.weight,
      at: this.now(),
      ...(r.resourceId ? {resourceId: r.resourceId} : {}),
      ...(r.failure ? {reason: r.failure} : {}),
      ...(r.canceled ? {canceled: true} : {}),
    })
  }

  /** A runner removed by a reload leaves once its last job is over. */
  dropIfRetiredAndIdle(uniq: string): void {
    const rt = this.byUnique.get(uniq)
    if (!rt?.retired) return
    for (const r of this.store.records.values()) if (r.runner === uniq) return
    this.byUnique.delete(uniq)
    this.runners.splice(this.runners.indexOf(rt), 1)
    this.log.info('a runner removed from the configuration has no job left: it is gone', {
      runner: uniq,
      runnerName: rt.name,
    })
  }

  errText(error: unknown): string {
    return this.redact(error instanceof Error ? error.message : String(error))
  }

  /** The control of a job, made on first use. */
  control(key: string): JobControl {
    let c = this.controls.get(key)
    if (!c) {
      c = {cancel: new AbortController()}
      this.controls.set(key, c)
    }
    return c
  }

  current(key: string): JobRecord | undefined {
    return this.store.records.get(key)
  }

  currentOf(rec: JobRecord): JobRecord | undefined {
    return this.current(recordKey(rec.runner, rec.jobId))
  }

  noteFailure(rec: JobRecord, reason: string): void {
    this.totals.launchFailed++
    this.recentFailures.push({runner: rec.runner, jobId: rec.jobId, reason, at: this.now()})
    if (this.recentFailures.length > 20) this.recentFailures.shift()
    this.emit({type: 'launch-failed', runner: rec.runner, jobId: rec.jobId, reason, at: this.now()})
  }
}

/** A reason for the job log: one line, of a readable length, whatever an error message held. */
export function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what it removes
  const flat = text.replace(/\s*[\r\n]+\s*/g, ' / ').replace(/[\u0000-\u001f\u007f]/g, ' ')
  return flat.length > 1000 ? `${flat.slice(0, 1000)}…` : flat
}

import type {Clock} from '../clock.js'
import {linkedSignal, Notifier, waitNotified} from '../clock.js'
import type {Config, RunnerConfig} from '../config/config-types.js'
import {AbortedError, CoordinatorError} from '../coordinator/coordinator-errors.js'
import type {Coordinator, RunnerEndpoint} from '../coordinator/coordinator.js'
import {ConfigError, JobRejectedError, PaasRunnerError} from '../errors.js'
import {EventBus, type DispatcherEvent, type DispatcherSnapshot, type IntakeState, type JobSnapshot} from '../events.js'
import type {Executor, Resource, UnmarkedResource} from '../executor.js'
import {jobVariable, type JobPayload} from '../job-payload.js'
import type {Logger} from '../logger.js'
import {admissionBlocker, describeBlocker, type IntakeBlocker, type WaitingAhead} from '../quota/admission.js'
import {formatWeight} from '../quota/flavor-weight.js'
import {computeWeightedQuota, isFlavorConfigError, UnknownFlavorError} from '../quota/quota.js'
import {PROVISIONING_PHASES, recordKey, type JobPhase, type JobRecord} from '../state/job-record.js'
import type {StateStore} from '../state/state-store.js'
import {DEFAULT_DISPATCHER_OPTIONS, type DispatcherOptions} from './dispatcher-options.js'
import {planReload, type ReloadPlan} from './reload-plan.js'
import {jobSnapshot} from './state-snapshot.js'

export interface RunnerUnit {
  config: RunnerConfig
  executor: Executor
}

export interface DispatcherDeps {
  config: Config
  runners: RunnerUnit[]
  coordinator: Coordinator
  store: StateStore
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

interface RunnerRuntime {
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
  /** Removed from the configuration by a reload: takes no job, finishes its own, then goes. */
  retired: boolean
  /** Aborts this runner's job request in flight when a reload removes it. */
  stop: AbortController
  /** Bumped when a reload brings a removed runner back: an older intake loop then ends. */
  generation: number
  /** Since when it waits for its next poll: the runner that waited longest is served first. */
  waitingSince: number
}

interface JobControl {
  /** Fires when GitLab says the job is over before it ran: stop provisioning or launching. */
  cancel: AbortController
  driving?: Promise<void>
}

/** Phases whose progress (or cancellation) is polled from GitLab. */
const POLLED_PHASES: ReadonlySet<JobPhase> = new Set(['provisioning', 'provisioned', 'launching', 'launched', 'running'])
/** Phases in which a cancellation in GitLab stops the pipeline and deletes the resource early. */
const PRE_RUNNING: ReadonlySet<JobPhase> = new Set(['acquired', 'provisioning', 'provisioned', 'launching', 'launched'])
const RED = (s: string): string => `\u001b[31m${s}\u001b[0m\n`

/**
 * The scheduler. One intake loop per runner takes jobs while the limits allow (concurrent,
 * weighted quota, provisioning slots; capacity is reserved before each request so the limits
 * hold even with every runner polling at once). Each job then goes through its pipeline,
 * every step persisted before its side effect. A progress loop spreads job-status checks
 * over `job_progress_poll_interval`; an orphan sweep deletes resources nobody tracks.
 */
export class Dispatcher {
  readonly events: EventBus
  private readonly opts: DispatcherOptions
  private readonly runners: RunnerRuntime[]
  /** The configuration in force: the constructor's, then each reload's. */
  private config: Config
  private readonly byUnique = new Map<string, RunnerRuntime>()
  private readonly controls = new Map<string, JobControl>()
  private readonly capacity = new Notifier()
  private readonly progressWake = new Notifier()
  private readonly stopController = new AbortController()
  private readonly loops: Array<Promise<void>> = []
  private readonly intakeLoops: Array<Promise<void>> = []
  private quota: {total: number; explanation: string} | undefined
  private readonly startedAt: number
  private readonly totals = {acquired: 0, launched: 0, finished: 0, launchFailed: 0, decommissioned: 0}
  private readonly recentFailures: DispatcherSnapshot['recentFailures'] = []
  private stopping = false
  /** Intake paused by the operator (TUI `p`). */
  private operatorPaused = false
  /** Aborts the job requests in flight when the operator pauses intake. */
  private intakeController = new AbortController()
  private stopped: Promise<void> | undefined
  /** Per runner: resources named like ours without a marker, as last listed (reported, never deleted). */
  private readonly unmarked = new Map<string, Map<string, {runner: string; resourceId: string; name: string}>>()
  private readonly redact: (s: string) => string

  constructor(private readonly deps: DispatcherDeps) {
    this.opts = {...DEFAULT_DISPATCHER_OPTIONS, ...deps.options}
    this.events = deps.events ?? new EventBus()
    this.redact = deps.redact ?? ((s) => s)
    this.startedAt = deps.clock.now()
    this.config = deps.config
    this.runners = deps.runners.map((unit) => this.addRuntime(unit))
  }

  private addRuntime(unit: RunnerUnit): RunnerRuntime {
    const rt: RunnerRuntime = {
      unit,
      name: unit.config.name ?? `runners[${unit.config.index}]`,
      endpoint: {url: unit.config.url, token: unit.config.token, uniqueName: unit.config.uniqueName},
      intake: {state: 'starting'},
      cycles: 0,
      quickNones: 0,
      longPolling: false,
      warnedNoWatch: false,
      retired: false,
      stop: new AbortController(),
      generation: 0,
      waitingSince: this.deps.clock.now(),
    }
    this.byUnique.set(unit.config.uniqueName, rt)
    return rt
  }

  private get log(): Logger {
    return this.deps.logger
  }

  private get store(): StateStore {
    return this.deps.store
  }

  private get stopSignal(): AbortSignal {
    return this.stopController.signal
  }

  /**
   * Starts everything: resumes the jobs of the state file, then intake, progress polling and
   * the orphan sweep. Throws ConfigError when the quota's reference flavor does not exist.
   */
  async start(): Promise<void> {
    await this.computeQuota(true)
    await this.refuseIdleRunners()
    for (const stored of [...this.store.records.values()]) {
      this.deps.addSecret?.(stored.jobToken)
      const rec = await this.adoptLegacyRunnerName(stored)
      if (!this.byUnique.has(rec.runner)) {
        this.log.error('a tracked job belongs to a runner that is no longer in the configuration; it stays in the state file, untouched', {runner: rec.runner, job: rec.jobId, phase: rec.phase, resource: rec.resourceId})
        continue
      }
      this.log.info('resuming tracked job', {runner: rec.runner, job: rec.jobId, phase: rec.phase, resource: rec.resourceId})
      this.drive(rec.weightUnknown ? await this.assumeHeaviest(rec) : rec)
    }
    if (!this.quota) this.loops.push(this.quotaLoop())
    for (const rt of this.runners) this.startIntake(rt)
    this.loops.push(this.progressLoop())
    this.loops.push(this.sweepLoop())
  }

  /**
   * The original keyed its records by the first 8 characters of the runner token, which is not
   * the short token of a `glrt-` runner: such a record is moved to the runner it names, when
   * exactly one configured runner's token starts with those 8 characters.
   */
  private async adoptLegacyRunnerName(rec: JobRecord): Promise<JobRecord> {
    if (this.byUnique.has(rec.runner)) return rec
    const matches = this.runners.filter((rt) => rt.unit.config.token.slice(0, 8) === rec.runner)
    if (matches.length !== 1) return rec
    const runner = matches[0]!.unit.config.uniqueName
    const moved: JobRecord = {...rec, runner}
    await this.store.put(moved)
    await this.store.delete(rec.runner, rec.jobId)
    this.log.info('a job of the original state file is now keyed by its runner\'s short token', {job: rec.jobId, from: rec.runner, runner})
    return moved
  }

  /**
   * A job imported without any weight counts as the heaviest flavor its runner may get: the
   * worst case, so an upgrade can never overrun the quota (the original assumed 1).
   */
  private async assumeHeaviest(rec: JobRecord): Promise<JobRecord> {
    const rt = this.byUnique.get(rec.runner)!
    let weight: number
    try {
      weight = await rt.unit.executor.minRequestableWeight(this.stopSignal)
    } catch (error) {
      this.log.warn('an imported job has no weight and the flavors are unavailable: it counts as weight 1 for now', {runner: rec.runner, job: rec.jobId, error: this.errText(error)})
      return rec
    }
    const next: JobRecord = {...rec, weight: Math.max(rec.weight, weight), expectedWeight: Math.max(rec.expectedWeight, weight)}
    delete next.weightUnknown
    await this.store.put(next)
    this.log.info('an imported job had no weight: it counts as the heaviest flavor of its runner', {runner: rec.runner, job: rec.jobId, weight})
    return next
  }

  /**
   * A quota that can never hold the heaviest flavor a runner may get leaves that runner idle for
   * good: refuse to start (ConfigError, exit 2) with the fix, unless `allowIdle` (`--allow-idle`).
   * Checked when the flavors are known at start; later, the runner's intake stops with the reason.
   */
  private async refuseIdleRunners(): Promise<void> {
    await this.refuseIdle(this.quota, this.runners.map((rt) => rt.unit), this.config)
  }

  /** The check of `refuseIdleRunners`, for a quota and runners (also those of a reload). */
  private async refuseIdle(quota: Dispatcher['quota'], units: readonly RunnerUnit[], config: Config): Promise<void> {
    if (!quota || this.opts.allowIdle) return
    const issues = []
    for (const unit of units) {
      let need: number
      try {
        need = await unit.executor.minRequestableWeight(this.stopSignal)
      } catch {
        continue // unknown flavors or API down: the intake loop says so
      }
      if (need <= quota.total + 1e-9) continue
      issues.push({
        path: `runners[${unit.config.index}]`,
        message: `runner '${unit.config.name ?? `runners[${unit.config.index}]`}' could never take a job: the weighted quota ${formatWeight(quota.total)} (${quota.explanation}) is less than the weight of its heaviest flavor, ${formatWeight(need)}. ` +
          'Raise [quota_computation] reference_jobs_count (or its reference flavor), or set this runner\'s max flavor (cc_max_flavor) to a flavor that fits; --allow-idle starts anyway',
      })
    }
    if (issues.length > 0) throw new ConfigError(config.file, issues)
  }

  /** Resolves when every intake loop has ended (after `maxPollCycles`, or at shutdown). */
  async intakeDone(): Promise<void> {
    await Promise.all(this.intakeLoops)
  }

  // ---- quota ------------------------------------------------------------------------------

  private async computeQuota(first: boolean): Promise<void> {
    const qc = this.config.quotaComputation
    const ref = this.runners.find((r) => r.unit.config.name === qc.referenceRunner)
    if (!ref) throw new ConfigError(this.config.file, [{path: 'quota_computation.reference_runner', message: `no runner named '${qc.referenceRunner}'`}])
    let flavors
    try {
      flavors = await ref.unit.executor.flavors(this.stopSignal)
    } catch (error) {
      if (first) this.log.warn('cannot compute the quota yet: the flavors of the reference runner are unavailable; intake waits, tracked jobs go on', {runner: ref.unit.config.uniqueName, error: this.errText(error)})
      return
    }
    try {
      this.quota = computeWeightedQuota(qc, flavors)
    } catch (error) {
      if (error instanceof UnknownFlavorError) {
        throw new ConfigError(this.config.file, [{path: 'quota_computation.reference_flavor', message: `runner '${qc.referenceRunner}' has no flavor '${qc.referenceFlavor}'; its flavors: ${error.available.join(', ')}`}])
      }
      throw error
    }
    this.log.warn(`maximum concurrency set to ${this.config.concurrent}; weighted quota set to ${formatWeight(this.quota.total)} (${this.quota.explanation})`)
    this.emit({type: 'quota', total: this.quota.total, explanation: this.quota.explanation, at: this.now()})
    this.capacity.notify()
  }

  private async quotaLoop(): Promise<void> {
    while (!this.quota && !this.stopping) {
      await this.sleep(this.opts.quotaRetryMs)
      if (this.stopping) return
      try {
        await this.computeQuota(false)
      } catch (error) {
        this.log.error('quota computation failed', {error: this.errText(error)})
        return
      }
    }
  }

  // ---- accounting -------------------------------------------------------------------------

  /** Does this record count against the limits? Not when its runner is gone or its delete failed for too long. */
  private counted(r: JobRecord): boolean {
    if (!this.byUnique.has(r.runner)) return false
    if (r.phase === 'decommissioning' && (r.deleteAttempts ?? 0) > 0 && this.now() - r.phaseSince > this.opts.deleteHoldMs) return false
    return true
  }

  private usage(): {weight: number; jobs: number; provisioning: number; reserved: number} {
    let weight = 0
    let jobs = 0
    let provisioning = 0
    for (const r of this.store.records.values()) {
      if (!this.counted(r)) continue
      weight += r.weight
      jobs++
      if (PROVISIONING_PHASES.has(r.phase)) provisioning++
    }
    let reserved = 0
    for (const rt of this.runners) {
      if (rt.reserved === undefined) continue
      reserved += rt.reserved
      jobs++
      provisioning++
    }
    return {weight: weight + reserved, jobs, provisioning, reserved}
  }

  // ---- intake -----------------------------------------------------------------------------

  private setIntake(rt: RunnerRuntime, intake: IntakeState): void {
    const prev = rt.intake
    rt.intake = intake
    // Logged once per kind of pause (quota, concurrent…), not at every change of its figures.
    const kind = (i: IntakeState): string => (i.state === 'paused' ? i.blocker.kind : i.state === 'stopped' ? (i.code ?? '') : '')
    const changed = prev.state !== intake.state || kind(prev) !== kind(intake)
    if (!changed) return
    // Every pause is logged once, with its reason and figures; so is the resumption.
    if (intake.state === 'paused') this.log.info(`intake paused: ${intake.reason}`, {runner: rt.unit.config.uniqueName, runnerName: rt.name, blocker: intake.blocker.kind})
    else if (intake.state === 'stopped' && intake.code) this.log.error(`intake stopped: ${intake.reason}`, {runner: rt.unit.config.uniqueName, runnerName: rt.name, code: intake.code})
    else if (prev.state === 'paused' && (intake.state === 'polling' || intake.state === 'long-polling')) this.log.info('intake resumed', {runner: rt.unit.config.uniqueName, runnerName: rt.name})
    this.emit({type: 'intake', runner: rt.unit.config.uniqueName, intake, at: this.now()})
  }

  private async intakeLoop(rt: RunnerRuntime): Promise<void> {
    const uniq = rt.unit.config.uniqueName
    const generation = rt.generation
    let failures = 0
    while (!this.stopping && !rt.retired && rt.generation === generation) {
      if (this.opts.maxPollCycles !== undefined && rt.cycles >= this.opts.maxPollCycles) {
        this.setIntake(rt, {state: 'stopped', reason: `after ${rt.cycles} polling cycles`, code: 'poll_cycles'})
        return
      }
      let minWeight: number
      try {
        minWeight = await rt.unit.executor.minRequestableWeight(this.stopSignal)
        rt.minWeight = minWeight
      } catch (error) {
        if (this.stopping) return
        rt.cycles++
        if (isFlavorConfigError(error)) {
          // No job can run until the config (or the catalogue) changes: say so loudly, check again now and then.
          this.setIntake(rt, {state: 'stopped', reason: this.errText(error), code: 'flavor_config'})
          if (!this.cyclesDone(rt)) await this.sleep(this.opts.quotaRetryMs * 6)
          continue
        }
        const wait = this.backoff(++failures)
        this.setIntake(rt, {state: 'backoff', reason: `cannot weigh this runner's flavors: ${this.errText(error)}`, until: this.now() + wait})
        await this.sleep(wait)
        continue
      }
      if (this.quota && minWeight > this.quota.total + 1e-9) {
        // Only with --allow-idle (run refuses to start otherwise): this runner can never take a job.
        this.setIntake(rt, {state: 'stopped', reason: `the quota (${formatWeight(this.quota.total)}) can never hold this runner's heaviest flavor (${formatWeight(minWeight)}): raise the quota or set its max flavor`, code: 'quota_too_small'})
        rt.cycles++
        if (!this.cyclesDone(rt)) await waitNotified(this.capacity, this.deps.clock, this.opts.quotaRetryMs * 6, this.stopSignal)
        continue
      }
      const u = this.usage()
      const blocker: IntakeBlocker | undefined = this.operatorPaused ? {kind: 'operator'} : admissionBlocker({
        quota: this.quota?.total, weightInUse: u.weight, jobs: u.jobs, concurrent: this.config.concurrent,
        provisioning: u.provisioning, maxProvisioning: this.config.maxConcurrentProvisioning, minRequestableWeight: minWeight,
        ahead: this.waitingAhead(rt),
      })
      if (blocker) {
        this.setIntake(rt, {state: 'paused', reason: describeBlocker(blocker), blocker})
        // Woken as soon as capacity is released; the timeout re-checks limits that move by themselves (held deletes).
        await waitNotified(this.capacity, this.deps.clock, this.config.checkInterval * 1000, this.stopSignal)
        rt.cycles++
        continue
      }
      rt.reserved = minWeight // reserve before asking: concurrent runners can never overshoot
      // While another runner waits for capacity, ask without holding a long poll: the reservation
      // is then held for one round trip, not ~50 s, and the runners take turns.
      const scarce = this.someoneWaiting(rt)
      this.setIntake(rt, {state: rt.lastUpdate && rt.longPolling && !scarce ? 'long-polling' : 'polling'})
      let result
      const asked = this.now()
      const linked = linkedSignal(this.stopSignal, this.intakeController.signal, rt.stop.signal)
      try {
        result = await this.deps.coordinator.requestJob(rt.endpoint, {...(rt.lastUpdate && !scarce ? {lastUpdate: rt.lastUpdate} : {}), signal: linked.signal})
      } catch (error) {
        rt.reserved = undefined
        rt.waitingSince = this.now()
        this.capacity.notify()
        rt.cycles++
        if (this.stopping) return
        if (error instanceof AbortedError) continue // the operator paused intake, or a reload removed this runner
        failures++
        const wait = this.intakeErrorWait(error, failures)
        const reason = this.errText(error)
        this.log.warn(`job request failed; retrying in ${Math.round(wait / 1000)} s`, {runner: uniq, error: reason})
        this.emit({type: 'coordinator-error', runner: uniq, kind: error instanceof CoordinatorError ? error.kind : 'unexpected', message: reason, at: this.now()})
        this.setIntake(rt, {state: 'backoff', reason, until: this.now() + wait})
        await this.sleep(wait)
        continue
      } finally {
        linked.dispose()
      }
      failures = 0
      rt.cycles++
      if (result.kind === 'none') {
        rt.reserved = undefined
        this.capacity.notify()
        if (result.lastUpdate) rt.lastUpdate = result.lastUpdate
        rt.longPolling = result.longPolling
        // Back of the queue: a runner that waited longer goes first.
        rt.waitingSince = this.now()
        // A long-poll hold that ended means "ask again": the answer now comes from Rails.
        if (result.holdEnded && !scarce) continue
        // Behind Workhorse long polling, the next request is held until a job comes: ask again at
        // once, unless GitLab keeps answering at once (then fall back to check_interval). When
        // capacity is scarce the request was not held: wait check_interval, like without long polling.
        const quick = this.now() - asked < 1000
        if (result.longPolling && !scarce && (!quick || rt.quickNones === 0)) {
          rt.quickNones = quick ? rt.quickNones + 1 : 0
          continue
        }
        rt.quickNones = 0
        await this.sleep(this.config.checkInterval * 1000)
        rt.waitingSince = this.now()
        continue
      }
      rt.quickNones = 0
      try {
        if (result.kind === 'unreadable') await this.accept(rt, {id: result.job.id, token: result.job.token}, minWeight, result.problem)
        else await this.accept(rt, result.job, minWeight)
      } catch (error) {
        // Whatever a job holds, it is an error of that job, never of the daemon.
        this.log.error('unexpected error while taking a job; intake goes on', {runner: uniq, error: this.errText(error)})
      } finally {
        rt.reserved = undefined
        rt.waitingSince = this.now()
        this.capacity.notify()
      }
      // Got a job: ask again at once.
    }
  }

  /** `--poll-cycles` reached: the loop ends at its next turn, without waiting. */
  private cyclesDone(rt: RunnerRuntime): boolean {
    return this.opts.maxPollCycles !== undefined && rt.cycles >= this.opts.maxPollCycles
  }

  /**
   * The runners waiting for capacity since before `rt`, which it must not overtake. A runner
   * whose heaviest flavor can never fit (`--allow-idle`) waits for nobody and blocks nobody.
   */
  private waitingAhead(rt: RunnerRuntime): WaitingAhead {
    const ahead = this.runners.filter((o) => o !== rt && this.isWaiting(o) && o.waitingSince < rt.waitingSince)
    return {names: ahead.map((o) => o.name), weight: ahead.reduce((w, o) => w + (o.minWeight ?? 0), 0)}
  }

  /** Another runner is waiting for capacity: held polls would keep it waiting. */
  private someoneWaiting(rt: RunnerRuntime): boolean {
    return this.runners.some((o) => o !== rt && this.isWaiting(o))
  }

  private isWaiting(o: RunnerRuntime): boolean {
    if (o.reserved !== undefined || o.intake.state !== 'paused') return false
    const kind = o.intake.blocker.kind
    const capacity = kind === 'quota' || kind === 'concurrent' || kind === 'provisioning' || kind === 'turn'
    return capacity && !(this.quota && (o.minWeight ?? 0) > this.quota.total + 1e-9)
  }

  private intakeErrorWait(error: unknown, failures: number): number {
    if (error instanceof CoordinatorError) {
      if (error.kind === 'rate_limited') return Math.max(error.retryAfterMs ?? 60_000, 1000)
      if (error.kind === 'token_revoked') return this.opts.tokenRevokedPauseMs
    }
    return this.backoff(failures)
  }

  private backoff(failures: number): number {
    const d = Math.min(this.opts.intakeBackoffMaxMs, this.opts.intakeBackoffBaseMs * 2 ** (failures - 1))
    return d / 2 + this.deps.random() * (d / 2)
  }

  /**
   * A job was acquired: weigh it, record it durably, start its pipeline. Never throws.
   * `unreadable`: why its payload could not be read; then only its id and token are used, and
   * the job is failed with that reason in its log.
   */
  private async accept(rt: RunnerRuntime, job: JobPayload, reservedWeight: number, unreadable?: string): Promise<void> {
    const uniq = rt.unit.config.uniqueName
    this.deps.addSecret?.(job.token)
    this.totals.acquired++
    const now = this.now()
    const flavor = unreadable === undefined ? jobVariable(job, 'CI_CLEVER_CLOUD_FLAVOR') : undefined
    const base: JobRecord = {
      runner: uniq,
      jobId: job.id,
      jobToken: job.token,
      phase: 'acquired',
      weight: reservedWeight,
      expectedWeight: reservedWeight,
      ...(unreadable === undefined ? {payload: job} : {}),
      traceOffset: 0,
      acquiredAt: now,
      phaseSince: now,
      ...(flavor === undefined ? {} : {flavor}),
      ...(job.job_info?.project_id === undefined ? {} : {projectId: job.job_info.project_id}),
      ...(typeof job.job_info?.project_name === 'string' ? {projectName: job.job_info.project_name} : {}),
    }
    let rec = base
    try {
      if (unreadable !== undefined) throw new JobRejectedError('payload_unreadable', `the job payload cannot be read: ${unreadable}`, {jobId: job.id})
      const w = await rt.unit.executor.expectedWeight(job, this.stopSignal)
      rec = {...base, weight: w, expectedWeight: w}
    } catch (error) {
      if (error instanceof JobRejectedError) {
        // A job that cannot run here (unknown flavor…) is failed with a clear reason; it never stops the daemon.
        rec = {...base, weight: 0, expectedWeight: 0, failure: oneLine(this.redact(error.message))}
      } else {
        // Cannot weigh it now (PAAS API down?): count the worst case reserved for it and go on.
        this.log.warn('cannot weigh the job; counting the largest flavor', {runner: uniq, job: job.id, error: this.errText(error)})
      }
    }
    // The record takes over what the reservation held, in the same tick: never count both.
    rt.reserved = undefined
    try {
      await this.store.put(rec)
    } catch (error) {
      this.store.records.delete(recordKey(rec.runner, rec.jobId))
      this.log.error('cannot write the state file: the job is not tracked and will time out in GitLab', {runner: uniq, job: job.id, error: this.errText(error)})
      return
    }
    this.progressWake.notify()
    this.log.info('job acquired', {runner: uniq, job: job.id, project: rec.projectId, flavor: rec.flavor, weight: Number(formatWeight(rec.weight)), ...(rec.failure ? {rejected: rec.failure} : {})})
    this.emitPhase(rec)
    if (rec.failure) {
      this.log.error('job cannot run here', {runner: uniq, job: job.id, reason: rec.failure})
      this.noteFailure(rec, rec.failure)
    }
    this.drive(rec)
  }

  // ---- job pipeline -----------------------------------------------------------------------

  private control(key: string): JobControl {
    let c = this.controls.get(key)
    if (!c) {
      c = {cancel: new AbortController()}
      this.controls.set(key, c)
    }
    return c
  }

  /** Runs the pipeline of a job from its current phase, once at a time per job. */
  private drive(rec: JobRecord): void {
    const key = recordKey(rec.runner, rec.jobId)
    const ctl = this.control(key)
    if (ctl.driving) return
    ctl.driving = this.pipeline(key, ctl).finally(() => {
      ctl.driving = undefined
      if (!this.store.records.has(key)) this.controls.delete(key)
    })
  }

  private current(key: string): JobRecord | undefined {
    return this.store.records.get(key)
  }

  private async pipeline(key: string, ctl: JobControl): Promise<void> {
    for (;;) {
      const rec = this.current(key)
      if (!rec) return
      const rt = this.byUnique.get(rec.runner)
      if (!rt) return
      // At shutdown, stop between steps: everything done so far is durable, the next process resumes here.
      if (this.stopping) return
      if (ctl.cancel.signal.aborted && PRE_RUNNING.has(rec.phase)) {
        this.log.warn('job canceled in GitLab before it ran; stopping it', {runner: rec.runner, job: rec.jobId, phase: rec.phase, resource: rec.resourceId})
        await this.safeTransition(rec, 'finished', {canceled: true})
        continue
      }
      try {
        const next = await this.step(rt, rec, ctl)
        if (next === 'park') return
        if (this.current(key) === rec) {
          // A step that changed nothing would loop without ever yielding to the event loop
          // (no timer, no signal would run again): wait instead, as after an error.
          this.log.error('the job made no progress; retrying later', {runner: rec.runner, job: rec.jobId, phase: rec.phase})
          await this.sleep(this.opts.deleteRetryBaseMs)
        }
      } catch (error) {
        if (this.stopping && (error instanceof AbortedError || this.stopSignal.aborted)) return
        const now = this.current(key)
        if (!now) return
        if (error instanceof PaasRunnerError && error.code === 'unknown_phase') {
          this.log.error('the job record has an unknown phase: the job is left alone; fix or remove its record', {runner: now.runner, job: now.jobId, phase: now.phase})
          return
        }
        if (ctl.cancel.signal.aborted || now.canceled) {
          // Canceled in GitLab while provisioning or launching: delete the resource early.
          this.log.warn('job canceled in GitLab before it ran; stopping it', {runner: now.runner, job: now.jobId, phase: now.phase, resource: now.resourceId})
          await this.safeTransition(now, 'finished', {canceled: true})
          continue
        }
        if (now.phase === 'reporting' || now.phase === 'finished' || now.phase === 'decommissioning' || now.phase === 'running' || (now.phase === 'acquired' && !(error instanceof JobRejectedError))) {
          // Not a launch failure: an unexpected error in a later step. Retry it after a pause.
          this.log.error('unexpected error; retrying', {runner: now.runner, job: now.jobId, phase: now.phase, error: this.errText(error)})
          await this.sleep(this.opts.deleteRetryBaseMs)
          continue
        }
        const reason = oneLine(launchFailureReason(now.phase, error, this.errText(error)))
        this.log.error('job failed to launch', {runner: now.runner, job: now.jobId, phase: now.phase, resource: now.resourceId, reason})
        this.noteFailure(now, reason)
        await this.safeTransition(now, 'reporting', {failure: reason})
      }
    }
  }

  private noteFailure(rec: JobRecord, reason: string): void {
    this.totals.launchFailed++
    this.recentFailures.push({runner: rec.runner, jobId: rec.jobId, reason, at: this.now()})
    if (this.recentFailures.length > 20) this.recentFailures.shift()
    this.emit({type: 'launch-failed', runner: rec.runner, jobId: rec.jobId, reason, at: this.now()})
  }

  private async safeTransition(rec: JobRecord, phase: JobPhase, changes: Partial<JobRecord> = {}): Promise<JobRecord> {
    for (;;) {
      try {
        const next = await this.store.transition(rec, phase, changes)
        this.emitPhase(next)
        return next
      } catch (error) {
        this.log.error('cannot write the state file; retrying', {job: rec.jobId, error: this.errText(error)})
        await this.sleep(1000)
        if (this.stopping) return rec
      }
    }
  }

  private async to(rec: JobRecord, phase: JobPhase, changes: Partial<JobRecord> = {}): Promise<JobRecord> {
    const next = await this.store.transition(rec, phase, changes)
    this.emitPhase(next)
    return next
  }

  /** One step of the pipeline. Returns 'park' when the job now waits for someone else (progress loop). */
  private async step(rt: RunnerRuntime, rec: JobRecord, ctl: JobControl): Promise<'next' | 'park'> {
    const ex = rt.unit.executor
    const signal = ctl.cancel.signal
    const log = {runner: rec.runner, job: rec.jobId}
    switch (rec.phase) {
      case 'acquired': {
        // Two-phase commit: acknowledge the job only now that it is recorded.
        const ack = await this.deps.coordinator.confirmJob(rt.endpoint, {id: rec.jobId, token: rec.jobToken}, {signal: this.stopSignal})
        if (ack === 'gone') {
          await this.forget(rec, 'GitLab no longer assigns this job to us (re-queued or canceled before we acknowledged it)')
          return 'next'
        }
        await this.to(rec, rec.failure ? 'reporting' : 'provisioning')
        return 'next'
      }
      case 'provisioning': {
        if (!rec.payload) throw new JobRejectedError('payload_missing', 'the job payload was not kept; cannot provision', {jobId: rec.jobId})
        let latest = rec
        const onCreated = async (r: Resource): Promise<void> => {
          // Recorded as soon as it exists: a later failure can never orphan it.
          latest = await this.to(latest, 'provisioned', resourceFields(ex, r))
        }
        const res = await ex.provision(rec.payload, {signal, onCreated})
        if (latest.phase === 'provisioning') await this.to(latest, 'provisioned', resourceFields(ex, res))
        this.log.info('resource provisioned', {...log, resource: res.id, weight: Number(formatWeight(res.weight))})
        return 'next'
      }
      case 'provisioned':
        await this.to(rec, 'launching')
        return 'next'
      case 'launching': {
        if (!rec.payload) throw new JobRejectedError('payload_missing', 'the job payload was not kept; cannot launch', {jobId: rec.jobId})
        const resource = ex.restore(rec.resource!)
        const launched = await ex.launch(resource, rec.payload, {signal})
        if (Math.abs(launched.weight - rec.expectedWeight) > 1e-9) {
          this.log.warn(`weight corrected from the real resource: ${formatWeight(rec.expectedWeight)} → ${formatWeight(launched.weight)}`, {...log, resource: launched.id})
        }
        const {payload: _dropped, ...withoutPayload} = rec
        void _dropped
        await this.to({...withoutPayload}, 'launched', {...resourceFields(ex, launched), launchedAt: this.now()})
        this.totals.launched++
        this.log.info('job launched', {...log, resource: launched.id, weight: Number(formatWeight(launched.weight))})
        return 'next'
      }
      case 'launched': {
        await this.watchLaunch(rt, rec, ctl)
        const now = this.current(recordKey(rec.runner, rec.jobId))
        if (now && now.phase === 'launched') await this.to(now, 'running')
        return 'park'
      }
      case 'running':
        this.progressWake.notify()
        return 'park'
      case 'reporting':
        await this.reportFailure(rt, rec)
        return 'next'
      case 'finished': {
        this.totals.finished++
        const keep = rec.canceled ? false : this.config.finishedJobsKeepResources
        if (!rec.resource) {
          await this.forget(rec, 'finished, nothing to delete')
        } else if (keep) {
          await this.store.keep({runner: rec.runner, resourceId: rec.resourceId!, name: rec.resourceName ?? '', jobId: rec.jobId, reason: 'paas_finished_jobs_keep_resources', at: this.now()})
          await this.forget(rec, `finished; resource ${rec.resourceId} kept (paas_finished_jobs_keep_resources)`)
        } else {
          await this.to(rec, 'decommissioning')
        }
        return 'next'
      }
      case 'decommissioning':
        await this.decommission(rt, rec)
        return 'next'
      default:
        throw new PaasRunnerError('unknown_phase', `unknown phase ${JSON.stringify(rec.phase as unknown)}`, {jobId: rec.jobId})
    }
  }

  /** Removes a record: its slot and weight are released, exactly once. */
  private async forget(rec: JobRecord, why: string): Promise<void> {
    await this.store.delete(rec.runner, rec.jobId)
    this.deps.retireSecret?.(rec.jobToken)
    this.log.info(`job done: ${why}`, {runner: rec.runner, job: rec.jobId})
    this.emit({type: 'job-phase', runner: rec.runner, jobId: rec.jobId, phase: 'gone', weight: 0, at: this.now(), ...(rec.resourceId ? {resourceId: rec.resourceId} : {})})
    this.dropIfRetiredAndIdle(rec.runner)
    this.capacity.notify()
  }

  /** §2.6: the job is running once its log has something we did not write. */
  private async watchLaunch(rt: RunnerRuntime, rec: JobRecord, ctl: JobControl): Promise<void> {
    const watch = rt.unit.config.traceWatch
    if (!watch?.token) {
      if (!rt.warnedNoWatch) {
        rt.warnedNoWatch = true
        this.log.warn('no token for job-log watching ([runners.paas_job_trace_watch] token): jobs count as started once handed over', {runner: rec.runner})
      }
      return
    }
    if (rec.projectId === undefined) return
    const deadline = (rec.launchedAt ?? this.now()) + watch.timeoutSeconds * 1000
    const linked = linkedSignal(this.stopSignal, ctl.cancel.signal)
    try {
      await this.watchLoop(rt, rec, watch, deadline, linked.signal)
    } finally {
      linked.dispose()
    }
  }

  private async watchLoop(rt: RunnerRuntime, rec: JobRecord, watch: {token?: string; timeoutSeconds: number; pollStep: number}, deadline: number, waitSignal: AbortSignal): Promise<void> {
    let checks = 0
    for (;;) {
      checks++
      try {
        const text = await this.deps.coordinator.readLog(rt.unit.config.url, rec.projectId!, rec.jobId, watch.token!, {signal: waitSignal})
        if (Buffer.byteLength(text) > rec.traceOffset) {
          this.log.info('job fully launched (job log activity detected)', {runner: rec.runner, job: rec.jobId, afterMs: this.now() - (rec.launchedAt ?? this.now())})
          return
        }
      } catch (error) {
        if (waitSignal.aborted) throw error
        // Transient errors are retried until the deadline; a refused token fails the launch.
        if (!(error instanceof CoordinatorError) || error.kind === 'unexpected') throw error
        this.log.warn('cannot read the job log yet; will retry', {runner: rec.runner, job: rec.jobId, error: this.errText(error)})
      }
      if (this.now() >= deadline && checks > 0) {
        throw new JobRejectedError('launch_timeout', `Job not active (no log) after ${watch.timeoutSeconds} seconds`, {jobId: rec.jobId})
      }
      await this.deps.clock.sleep(Math.min(watch.pollStep * 1000, Math.max(0, deadline - this.now()) + 1), waitSignal)
    }
  }

  /** §2.7–2.8: red line in the job log, then report failed (3 attempts, 30 s apart, interruptible). */
  private async reportFailure(rt: RunnerRuntime, rec: JobRecord): Promise<void> {
    const job = {id: rec.jobId, token: rec.jobToken}
    const reason = oneLine(this.redact(rec.failure ?? 'the job could not be launched'))
    try {
      // Once only, even across restarts.
      if (!rec.failureLogged) {
        const res = await this.deps.coordinator.appendLog(rt.endpoint, job, rec.traceOffset, RED(`heptapod-paas-runner: ${reason}`), {signal: this.stopSignal})
        rec = await this.to(rec, 'reporting', {failureLogged: true, ...(res === 'not-running' ? {} : {traceOffset: res.offset})})
      }
    } catch (error) {
      if (this.stopping) throw new AbortedError('report')
      this.log.warn('could not write the failure reason to the job log', {runner: rec.runner, job: rec.jobId, error: this.errText(error)})
    }
    let reported = false
    for (let attempt = 1; attempt <= this.opts.reportAttempts && !reported; attempt++) {
      try {
        const r = await this.deps.coordinator.reportFailed(rt.endpoint, job, {signal: this.stopSignal})
        reported = true
        this.log.warn(r === 'reported' ? 'job reported as failed to launch' : 'reporting was not necessary: the job is not running any more', {runner: rec.runner, job: rec.jobId})
      } catch (error) {
        if (this.stopping) throw new AbortedError('report')
        this.log.error(`could not report the job as failed (attempt ${attempt}/${this.opts.reportAttempts})`, {runner: rec.runner, job: rec.jobId, error: this.errText(error)})
        if (attempt < this.opts.reportAttempts) await this.sleepOrThrow(this.opts.reportRetryDelayMs)
      }
    }
    if (!reported) this.log.error('giving up reporting the job: GitLab will time it out', {runner: rec.runner, job: rec.jobId})
    if (rec.resource && this.config.decommissionLaunchFailures) {
      await this.to(rec, 'decommissioning')
    } else if (rec.resource) {
      await this.store.keep({runner: rec.runner, resourceId: rec.resourceId!, name: rec.resourceName ?? '', jobId: rec.jobId, reason: 'launch failure kept for inspection (paas_decommission_launch_failures = false)', at: this.now()})
      await this.forget(rec, `launch failure; resource ${rec.resourceId} kept for inspection`)
    } else {
      await this.forget(rec, 'launch failure reported')
    }
  }

  /** Deletes the resource, retrying with capped backoff until it is gone. */
  private async decommission(rt: RunnerRuntime, rec: JobRecord): Promise<void> {
    const t0 = this.now()
    let resource: Resource
    try {
      resource = rt.unit.executor.restore(rec.resource!)
    } catch (error) {
      this.log.error('cannot read the recorded resource; it cannot be deleted automatically: delete it by hand, then remove job from the state file', {runner: rec.runner, job: rec.jobId, resource: rec.resourceId, error: this.errText(error)})
      await this.to(rec, 'decommissioning', {deleteAttempts: (rec.deleteAttempts ?? 0) + 1, lastDeleteError: this.errText(error)})
      await this.sleepOrThrow(this.opts.deleteRetryMaxMs)
      return
    }
    try {
      const outcome = await rt.unit.executor.decommission(resource, {})
      this.totals.decommissioned++
      this.log.info(outcome === 'absent' ? 'resource already gone' : 'resource deleted', {runner: rec.runner, job: rec.jobId, resource: resource.id})
      this.emit({type: 'decommissioned', runner: rec.runner, jobId: rec.jobId, resourceId: resource.id, outcome, at: this.now(), durationMs: this.now() - t0})
      await this.forget(rec, 'resource deleted')
    } catch (error) {
      const attempt = (rec.deleteAttempts ?? 0) + 1
      const d = Math.min(this.opts.deleteRetryMaxMs, this.opts.deleteRetryBaseMs * 2 ** (attempt - 1))
      const wait = d / 2 + this.deps.random() * (d / 2)
      const msg = this.errText(error)
      this.log.warn(`resource deletion failed (attempt ${attempt}); retrying in ${Math.round(wait / 1000)} s`, {runner: rec.runner, job: rec.jobId, resource: resource.id, error: msg})
      this.emit({type: 'delete-retry', runner: rec.runner, jobId: rec.jobId, resourceId: resource.id, attempt, error: msg, nextAt: this.now() + wait, at: this.now()})
      // Same phase, same phaseSince: the start of the deletion decides when the weight stops counting.
      await this.store.put({...rec, deleteAttempts: attempt, lastDeleteError: msg})
      await this.sleepOrThrow(wait)
      this.capacity.notify()
    }
  }

  // ---- progress ---------------------------------------------------------------------------

  /**
   * Checks every tracked job once per `job_progress_poll_interval`, spread evenly: with N jobs,
   * one check every interval / N. Re-plans at once when jobs come or go.
   */
  /**
   * Checks the progress of every polled job about once per `job_progress_poll_interval`, spread
   * evenly over it. Checks run concurrently under a small bound, and at most half of it per GitLab
   * instance: a slow or rate-limited job (or instance) holds its own slots, never the others'.
   */
  private async progressLoop(): Promise<void> {
    let cursor = 0
    let lastCheck = Number.NEGATIVE_INFINITY
    const bound = this.opts.progressConcurrency
    const perInstance = Math.max(1, Math.floor(bound / 2))
    const inFlight = new Map<string, string>() // job key → GitLab URL
    const checks = new Set<Promise<void>>()
    while (!this.stopping) {
      // Read at each turn: a reload may change it.
      const interval = this.config.jobProgressPollInterval * 1000
      const polled = [...this.store.records.values()].filter((r) => POLLED_PHASES.has(r.phase) && this.byUnique.has(r.runner))
      const busy = new Map<string, number>()
      for (const url of inFlight.values()) busy.set(url, (busy.get(url) ?? 0) + 1)
      const eligible = polled.filter((r) => !inFlight.has(recordKey(r.runner, r.jobId)) && (busy.get(this.byUnique.get(r.runner)!.endpoint.url) ?? 0) < perInstance)
      if (eligible.length === 0 || inFlight.size >= bound) {
        await waitNotified(this.progressWake, this.deps.clock, interval, this.stopSignal)
        continue
      }
      const due = lastCheck + interval / polled.length
      if (this.now() < due) {
        await waitNotified(this.progressWake, this.deps.clock, due - this.now(), this.stopSignal)
        continue
      }
      cursor %= eligible.length
      const rec = eligible[cursor++]!
      const key = recordKey(rec.runner, rec.jobId)
      inFlight.set(key, this.byUnique.get(rec.runner)!.endpoint.url)
      lastCheck = this.now()
      const check: Promise<void> = this.checkProgress(key).finally(() => {
        inFlight.delete(key)
        checks.delete(check)
        this.progressWake.notify()
      })
      checks.add(check)
    }
    await Promise.allSettled([...checks])
  }

  private async checkProgress(key: string): Promise<void> {
    const rec = this.current(key)
    if (!rec || !POLLED_PHASES.has(rec.phase)) return
    const rt = this.byUnique.get(rec.runner)!
    let finished: {finished: boolean; status?: string}
    try {
      finished = await this.deps.coordinator.jobStatus(rt.endpoint, {id: rec.jobId, token: rec.jobToken}, {signal: this.stopSignal})
    } catch (error) {
      if (!this.stopping) this.log.warn('cannot check job progress; will retry', {runner: rec.runner, job: rec.jobId, error: this.errText(error)})
      return
    }
    if (!finished.finished) return
    const now = this.current(key)
    if (!now) return
    this.emit({type: 'job-finished', runner: now.runner, jobId: now.jobId, ...(finished.status ? {status: finished.status} : {}), at: this.now()})
    if (now.phase === 'running') {
      this.log.info('job finished', {runner: now.runner, job: now.jobId, status: finished.status})
      await this.safeTransition(now, 'finished')
      this.drive(now)
      return
    }
    // Over in GitLab before it ran (canceled): stop provisioning / launching, delete early.
    const ctl = this.control(key)
    await this.safeTransition(now, now.phase, {canceled: true})
    ctl.cancel.abort(new Error('job canceled in GitLab'))
    if (!ctl.driving) this.drive(now)
  }

  // ---- orphan sweep -----------------------------------------------------------------------

  private async sweepLoop(): Promise<void> {
    // A sweep at least once per grace period, so that an orphan goes within two grace periods;
    // never more often than once a second, never less often than `sweepIntervalMs` (10 min).
    while (!this.stopping) {
      await this.sweepOnce()
      // Read at each turn: a reload may change the grace period.
      const graceMs = this.config.orphanGracePeriod * 1000
      await this.sleep(graceMs > 0 ? Math.min(this.opts.sweepIntervalMs, Math.max(graceMs, 1000)) : this.opts.sweepIntervalMs)
    }
  }

  /**
   * Lists each runner's resources. Only a resource whose ownership marker names this daemon and
   * runner can be deleted: one that no record knows is marked, and deleted only if it is still
   * unknown after `paas_orphan_grace_period` (never when it is 0). Every job we run has a record
   * written before its resource is created, so a resource of a running job is never unknown.
   * Resources named like ours without a marker are reported once, never deleted.
   */
  async sweepOnce(): Promise<void> {
    const graceMs = this.config.orphanGracePeriod * 1000
    for (const rt of [...this.runners]) {
      if (this.stopping) return
      if (rt.retired) continue // no longer configured: its own jobs end, nothing else is touched
      const uniq = rt.unit.config.uniqueName
      let listing
      try {
        listing = await rt.unit.executor.listOwned({signal: this.stopSignal})
      } catch (error) {
        if (!this.stopping) this.log.warn('orphan sweep: cannot list resources', {runner: uniq, error: this.errText(error)})
        continue
      }
      this.reportUnmarked(rt, listing.unmarked)
      const knownIds = new Set<string>()
      const knownJobs = new Set<number>()
      for (const r of this.store.records.values()) {
        if (r.runner !== uniq) continue
        knownJobs.add(r.jobId)
        if (r.resourceId) knownIds.add(r.resourceId)
      }
      for (const k of this.store.kept.values()) if (k.runner === uniq) knownIds.add(k.resourceId)
      const present = new Set<string>()
      for (const o of listing.owned) {
        present.add(o.id)
        if (knownIds.has(o.id) || (o.jobId !== undefined && knownJobs.has(o.jobId))) {
          await this.store.unmarkOrphan(uniq, o.id)
          continue
        }
        const mark = this.store.orphans.get(`${uniq}/${o.id}`)
        if (!mark) {
          await this.store.markOrphan({runner: uniq, resourceId: o.id, name: o.name, ...(o.jobId === undefined ? {} : {jobId: o.jobId}), firstSeenAt: this.now(), resource: rt.unit.executor.serialise(o.resource)})
          this.log.warn(graceMs > 0
            ? 'orphan sweep: found a resource of ours that no job record knows; it will be deleted if still unknown after the grace period'
            : 'orphan sweep: found a resource of ours that no job record knows; paas_orphan_grace_period = 0, so it is only reported', {runner: uniq, resource: o.id, name: o.name, gracePeriodSeconds: graceMs / 1000})
          this.emit({type: 'orphan', runner: uniq, resourceId: o.id, name: o.name, action: 'marked', at: this.now()})
          continue
        }
        if (graceMs === 0 || this.now() - mark.firstSeenAt < graceMs) continue
        try {
          await rt.unit.executor.decommission(o.resource, {})
          await this.store.unmarkOrphan(uniq, o.id)
          this.log.warn('orphan sweep: deleted an orphaned resource', {runner: uniq, resource: o.id, name: o.name})
          this.emit({type: 'orphan', runner: uniq, resourceId: o.id, name: o.name, action: 'deleted', at: this.now()})
        } catch (error) {
          this.log.warn('orphan sweep: could not delete an orphaned resource; will retry', {runner: uniq, resource: o.id, error: this.errText(error)})
        }
      }
      for (const m of [...this.store.orphans.values()]) {
        if (m.runner === uniq && !present.has(m.resourceId)) {
          await this.store.unmarkOrphan(uniq, m.resourceId)
          this.emit({type: 'orphan', runner: uniq, resourceId: m.resourceId, name: m.name, action: 'cleared', at: this.now()})
        }
      }
    }
  }

  /** Logs each unmarked resource once (at WARN), and keeps the current list for the snapshot. */
  private reportUnmarked(rt: RunnerRuntime, found: readonly UnmarkedResource[]): void {
    const uniq = rt.unit.config.uniqueName
    const before = this.unmarked.get(uniq) ?? new Map()
    const now = new Map<string, {runner: string; resourceId: string; name: string}>()
    for (const u of found) {
      now.set(u.id, {runner: uniq, resourceId: u.id, name: u.name})
      if (before.has(u.id)) continue
      this.log.warn('orphan sweep: a resource is named like this runner\'s but carries no ownership marker (made by the original heptapod-paas-runner, or by someone else); it is never deleted automatically: delete it by hand once you know it is unused', {runner: uniq, resource: u.id, name: u.name})
      this.emit({type: 'unmarked-resource', runner: uniq, resourceId: u.id, name: u.name, at: this.now()})
    }
    this.unmarked.set(uniq, now)
  }

  // ---- reload -----------------------------------------------------------------------------

  /**
   * Applies a reloaded configuration (SIGHUP). `units` holds an executor for each runner that
   * `planReload` finds added or changed; unchanged runners keep theirs (and its caches). Added
   * runners start polling; removed ones stop taking jobs at once (a request in flight is
   * aborted), finish the jobs they have, then leave; limits apply at once. Throws ConfigError,
   * changing nothing, when the new `[quota_computation]` names a flavor its runner lacks.
   */
  async reconfigure(config: Config, units: readonly RunnerUnit[]): Promise<ReloadPlan> {
    const plan = planReload(this.config, config)
    const fresh = new Map(units.map((u) => [u.config.uniqueName, u]))
    for (const r of [...plan.added, ...plan.changed]) {
      if (!fresh.has(r.uniqueName)) throw new Error(`reconfigure: no executor given for runner ${r.uniqueName}`)
    }
    const quota = plan.quotaChanged ? await this.candidateQuota(config, fresh) : this.quota
    // As at start: a runner that could never take a job under the new quota is refused.
    await this.refuseIdle(quota, config.runners.map((r) => fresh.get(r.uniqueName) ?? {config: r, executor: this.byUnique.get(r.uniqueName)!.unit.executor}), config)
    if (this.stopping) return plan

    this.config = config
    for (const uniq of plan.removed) {
      const rt = this.byUnique.get(uniq)
      if (!rt || rt.retired) continue
      rt.retired = true
      rt.stop.abort(new AbortedError('removed from the configuration'))
      const jobs = [...this.store.records.values()].filter((r) => r.runner === uniq).length
      this.setIntake(rt, {state: 'stopped', reason: `removed from the configuration${jobs ? `; finishing its ${jobs} job(s)` : ''}`})
      this.dropIfRetiredAndIdle(uniq)
    }
    for (const r of config.runners) {
      const unit = fresh.get(r.uniqueName)
      const rt = this.byUnique.get(r.uniqueName)
      if (!rt) {
        const added = this.addRuntime(unit!)
        this.runners.push(added)
        this.startIntake(added)
        continue
      }
      rt.unit = unit ?? {config: r, executor: rt.unit.executor}
      rt.name = r.name ?? `runners[${r.index}]`
      rt.endpoint = {url: r.url, token: r.token, uniqueName: r.uniqueName}
      if (unit) rt.minWeight = undefined
      if (rt.retired) {
        // Removed by an earlier reload and back before its jobs were over: it polls again.
        rt.retired = false
        rt.stop = new AbortController()
        rt.generation++
        this.startIntake(rt)
      }
    }
    // Table order: the file's, then the runners that are finishing their jobs.
    const order = new Map(config.runners.map((r, i) => [r.uniqueName, i]))
    this.runners.sort((a, b) => (order.get(a.unit.config.uniqueName) ?? Infinity) - (order.get(b.unit.config.uniqueName) ?? Infinity))
    if (quota && quota !== this.quota) {
      this.quota = quota
      this.log.warn(`weighted quota set to ${formatWeight(quota.total)} (${quota.explanation})`)
      this.emit({type: 'quota', total: quota.total, explanation: quota.explanation, at: this.now()})
    }
    this.capacity.notify()
    this.progressWake.notify()
    return plan
  }

  /**
   * The quota of a reloaded configuration. Flavors unavailable: the quota in force is kept (a
   * reload never leaves the daemon without one). A reference flavor that does not exist: ConfigError.
   */
  private async candidateQuota(config: Config, fresh: ReadonlyMap<string, RunnerUnit>): Promise<Dispatcher['quota']> {
    const qc = config.quotaComputation
    const ref = config.runners.find((r) => r.name === qc.referenceRunner)
    if (!ref) throw new ConfigError(config.file, [{path: 'quota_computation.reference_runner', message: `no runner named '${qc.referenceRunner}'`}])
    const executor = fresh.get(ref.uniqueName)?.executor ?? this.byUnique.get(ref.uniqueName)!.unit.executor
    let flavors
    try {
      flavors = await executor.flavors(this.stopSignal)
    } catch (error) {
      this.log.warn('reload: the flavors of the reference runner are unavailable; the quota in force is kept until the next reload', {error: this.errText(error)})
      return this.quota
    }
    try {
      return computeWeightedQuota(qc, flavors)
    } catch (error) {
      if (error instanceof UnknownFlavorError) {
        throw new ConfigError(config.file, [{path: 'quota_computation.reference_flavor', message: `runner '${qc.referenceRunner}' has no flavor '${qc.referenceFlavor}'; its flavors: ${error.available.join(', ')}`}])
      }
      throw error
    }
  }

  private startIntake(rt: RunnerRuntime): void {
    const loop = this.intakeLoop(rt)
    this.intakeLoops.push(loop)
    this.loops.push(loop)
  }

  /** A runner removed by a reload leaves once its last job is over. */
  private dropIfRetiredAndIdle(uniq: string): void {
    const rt = this.byUnique.get(uniq)
    if (!rt?.retired) return
    for (const r of this.store.records.values()) if (r.runner === uniq) return
    this.byUnique.delete(uniq)
    this.runners.splice(this.runners.indexOf(rt), 1)
    this.log.info('a runner removed from the configuration has no job left: it is gone', {runner: uniq, runnerName: rt.name})
  }

  /** The configuration in force (the last one loaded). */
  get currentConfig(): Config {
    return this.config
  }

  // ---- shutdown ---------------------------------------------------------------------------

  /**
   * Graceful stop: intake stops at once (long polls aborted), waits are interrupted, steps
   * that must not be cut (a create, a push, a delete) finish; everything is already durable.
   * Bounded by `shutdownTimeoutMs`. Idempotent.
   */
  shutdown(reason = 'shutdown requested'): Promise<void> {
    if (this.stopped) return this.stopped
    this.stopping = true
    this.log.warn(`graceful shutdown: ${reason}`)
    this.emit({type: 'shutdown', stage: 'requested', pending: this.controls.size, at: this.now()})
    this.stopController.abort(new AbortedError(reason))
    this.capacity.notify()
    this.progressWake.notify()
    this.stopped = (async () => {
      const inflight = [...this.controls.values()].map((c) => c.driving).filter((p): p is Promise<void> => p !== undefined)
      this.emit({type: 'shutdown', stage: 'draining', pending: inflight.length, at: this.now()})
      let timer: ReturnType<typeof setTimeout> | undefined
      const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), this.opts.shutdownTimeoutMs)))
      const r = await Promise.race([Promise.allSettled([...inflight, ...this.loops]).then(() => 'done' as const), timeout])
      clearTimeout(timer)
      if (r === 'timeout') this.log.error(`shutdown: operations still running after ${this.opts.shutdownTimeoutMs / 1000} s; their last persisted step is resumed at next start`)
      this.emit({type: 'shutdown', stage: 'done', pending: 0, at: this.now()})
    })()
    return this.stopped
  }

  /** Pauses or resumes intake (operator action). Pausing aborts job requests in flight at once. */
  setIntakePaused(paused: boolean): void {
    if (paused === this.operatorPaused) return
    this.operatorPaused = paused
    this.log.warn(paused ? 'intake paused by the operator' : 'intake resumed by the operator')
    if (paused) {
      this.intakeController.abort(new AbortedError('pause'))
      this.intakeController = new AbortController()
    }
    this.capacity.notify()
  }

  get intakePaused(): boolean {
    return this.operatorPaused
  }

  get isStopping(): boolean {
    return this.stopping
  }

  // ---- snapshot ---------------------------------------------------------------------------

  snapshot(): DispatcherSnapshot {
    const u = this.usage()
    const jobs: JobSnapshot[] = [...this.store.records.values()]
      .map((r) => jobSnapshot(r, this.byUnique.get(r.runner)?.unit.config.name ?? null, this.redact))
      .sort((a, b) => a.jobId - b.jobId)
    return {
      at: this.now(),
      startedAt: this.startedAt,
      quota: {total: this.quota?.total ?? null, explanation: this.quota?.explanation ?? null, used: u.weight - u.reserved, reserved: u.reserved},
      concurrent: {limit: this.config.concurrent, used: u.jobs},
      provisioning: {limit: this.config.maxConcurrentProvisioning, used: u.provisioning},
      runners: this.runners.map((rt) => ({
        runner: rt.unit.config.uniqueName,
        name: rt.unit.config.name ?? null,
        url: rt.unit.config.url,
        executor: rt.unit.config.executor,
        intake: rt.intake,
        minRequestableWeight: rt.minWeight ?? null,
      })),
      jobs,
      pendingDeletions: jobs.filter((j) => j.phase === 'decommissioning' && j.deleteAttempts > 0).length,
      orphansMarked: this.store.orphans.size,
      unmarkedResources: [...this.unmarked.values()].flatMap((m) => [...m.values()]),
      keptResources: this.store.kept.size,
      totals: {...this.totals},
      recentFailures: [...this.recentFailures],
      stopping: this.stopping,
    }
  }

  // ---- helpers ----------------------------------------------------------------------------

  private now(): number {
    return this.deps.clock.now()
  }

  /** Sleeps unless shutdown; never throws. */
  private async sleep(ms: number): Promise<void> {
    try {
      await this.deps.clock.sleep(ms, this.stopSignal)
    } catch {
      // aborted by shutdown
    }
  }

  /** Sleeps; throws AbortedError on shutdown so the pipeline stops where it is. */
  private async sleepOrThrow(ms: number): Promise<void> {
    try {
      await this.deps.clock.sleep(ms, this.stopSignal)
    } catch {
      throw new AbortedError('wait')
    }
  }

  private emit(e: DispatcherEvent): void {
    this.events.emit(e)
  }

  private emitPhase(r: JobRecord): void {
    this.emit({type: 'job-phase', runner: r.runner, jobId: r.jobId, phase: r.phase, weight: r.weight, at: this.now(), ...(r.resourceId ? {resourceId: r.resourceId} : {}), ...(r.failure ? {reason: r.failure} : {}), ...(r.canceled ? {canceled: true} : {})})
  }

  private errText(error: unknown): string {
    return this.redact(error instanceof Error ? error.message : String(error))
  }
}

function resourceFields(ex: Executor, r: Resource): Partial<JobRecord> {
  return {resource: ex.serialise(r), resourceId: r.id, resourceName: r.name, weight: r.weight, ...(r.flavor ? {flavor: r.flavor} : {})}
}

/** A reason for the job log: one line, of a readable length, whatever an error message held. */
function oneLine(text: string): string {
  const flat = text.replace(/\s*[\r\n]+\s*/g, ' / ').replace(/[\u0000-\u001f\u007f]/g, ' ')
  return flat.length > 1000 ? `${flat.slice(0, 1000)}…` : flat
}

function launchFailureReason(phase: JobPhase, error: unknown, text: string): string {
  if (error instanceof JobRejectedError) return text
  const what = phase === 'provisioning' || phase === 'acquired' ? 'could not create the PAAS resource' : phase === 'launched' ? 'could not confirm the job started' : 'could not launch the job on its PAAS resource'
  return `${what}: ${text}`
}

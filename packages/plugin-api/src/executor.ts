import type {z} from 'zod'

import type {Flavor} from './flavor.js'
import type {InnerRunnerInfo} from './inner-runner.js'
import type {HttpClient} from './http/http-port.js'
import type {RateLimitEpisode} from './http/rate-limit-gate.js'
import type {JobPayload} from './job-payload.js'
import type {Logger} from './logger.js'
import type {OwnerMarker} from './owner-marker.js'
import type {RunnerConfig} from './runner-config.js'

/** JSON-serialisable value, as stored in the state file. */
export type Json = string | number | boolean | null | Json[] | {[k: string]: Json}

/**
 * A PAAS resource running (or about to run) one job. It carries no credential:
 * credentials are looked up again from the configuration, so rotated tokens apply.
 */
export interface Resource {
  /** PAAS id (Clever app id, Docker image name…). */
  id: string
  /** Resource name, `hpd-job-<runner unique name>-<job id>`. */
  name: string
  /** Actual weight, from the real resource (may differ from the expected weight). */
  weight: number
  /** Flavor name the resource was created with. */
  flavor?: string
  /** True once the job definition was handed over (pushed, container started). */
  launched: boolean
  /** Executor-specific data needed to find the resource again (namespace, deploy URL…). No secrets. */
  data: {[k: string]: Json}
}

/** A resource whose ownership marker names this daemon and this runner. */
export interface OwnedResource {
  id: string
  name: string
  /** Job id parsed from the name, when it follows the naming scheme. */
  jobId?: number
  /** Enough to delete it without a state record. */
  resource: Resource
}

/** A resource named like ours (`hpd-job-<unique name>-…`) that carries no ownership marker. */
export interface UnmarkedResource {
  id: string
  name: string
  jobId?: number
}

/**
 * What `listOwned` finds. Only `owned` may ever be deleted by the orphan sweep; `unmarked`
 * (typically the apps of the original runner, which set no marker) are only reported.
 * Resources whose marker names another daemon or runner appear in neither list.
 */
export interface OwnedListing {
  owned: OwnedResource[]
  unmarked: UnmarkedResource[]
}

/** Outcome of a delete: `absent` means it was already gone (404), which counts as done. */
export type DecommissionOutcome = 'deleted' | 'absent'

/** Services an executor gets from its host. All optional dependencies are injected, never imported. */
export interface ExecutorDeps {
  /** Wall clock in ms; inject a fake in tests. */
  now(): number
  /** Abortable sleep. Rejects with the signal's reason when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>
  /** Registers a secret with the process redactor. */
  addSecret(secret: string): void
  /** Structured logger. */
  log: ExecutorLogger
  /** Reads the custom attributes of a top-level group of this runner's GitLab (multi-tenant mode). */
  groupAttributes?(namespace: string, token: string, signal?: AbortSignal): Promise<Record<string, string>>
  /** HTTP client for the executor's API; executors make their own when absent (tests inject one). */
  http?: HttpClient
  /** Called after every PAAS API exchange, for metrics: endpoint pattern and status (or `network`). */
  onApiExchange?(endpoint: string, outcome: number | 'network'): void
  /** Called once per rate-limit episode of the PAAS API (the executor logs it; the host counts it). */
  onRateLimited?(e: RateLimitEpisode): void
  /**
   * Who owns what this executor creates: every resource carries this marker, and `listOwned`
   * returns only resources that carry it. Absent in commands that never create anything
   * (`quota`, `status`); `provision` and `listOwned` then fail with `no_owner`.
   */
  owner?: OwnerMarker
  /**
   * Adds a line to the job's log in GitLab, for the person who reads it (what was created, what
   * went wrong). The host never hands the job token out for it: it redacts the line, keeps the
   * last 20 lines of a job (each at most 1000 characters) and writes them to the job log, before
   * the failure reason, when it fails the job. While the job runs on its resource, the log belongs
   * to the inner runner: GitLab appends only at the exact end of the log, so a line written then
   * would shift the inner runner's own output. Every line also goes to the daemon's log at once.
   * Absent in commands that run no job.
   */
  jobLog?(jobId: number, line: string): void
  /**
   * Reports that the resource of a job failed or was lost (deleted behind our back, crashed,
   * its node gone): the host fails the job in GitLab with `reason` (written in its log) and
   * deletes the resource (or keeps it for inspection when `paas_decommission_launch_failures =
   * false`). Idempotent; ignored for a job that is not in progress here, or already ending.
   */
  resourceFailed?(jobId: number, reason: string): void
}

export type ExecutorLogger = Logger

/**
 * The port every executor implements. One instance serves one `[[runners]]` section.
 * Every method may be called again after a crash and restart, so each one is idempotent
 * where the contract says so; the core's contract suite checks it.
 */
export interface Executor {
  /** Executor name as written in the config (`clever-docker`, `local-docker`, …). */
  readonly name: string
  /** The runner's short token (see `shortToken`): the prefix of every resource name. */
  readonly uniqueName: string

  /** Flavors this runner may use, keyed by user-facing name. May do I/O (cached by the executor). */
  flavors(signal?: AbortSignal): Promise<ReadonlyMap<string, Flavor>>

  /** Weight of the heaviest job this runner could receive; intake needs that much free weight. */
  minRequestableWeight(signal?: AbortSignal): Promise<number>

  /**
   * Weight of a job before its resource exists, from the flavor it asks for.
   * Throws a JobRejectedError (not retryable) when the job cannot run here, e.g. an unknown flavor.
   */
  expectedWeight(job: JobPayload, signal?: AbortSignal): Promise<number>

  /**
   * Creates the resource for a job, carrying `deps.owner` as its ownership marker. Idempotent per
   * job: when the resource already exists (same name, our marker), it is returned instead of a
   * second one being created, with its configuration (environment…) applied again.
   * `onCreated` is awaited as soon as the resource exists, before any further side effect,
   * so the host can persist it and never orphan it.
   */
  provision(
    job: JobPayload,
    opts: {signal?: AbortSignal; onCreated?: (r: Resource) => Promise<void>},
  ): Promise<Resource>

  /** Hands the job over to the resource. Idempotent: a resource already launched counts as done. */
  launch(resource: Resource, job: JobPayload, opts: {signal?: AbortSignal}): Promise<Resource>

  /** Deletes the resource. Idempotent: an absent resource is `absent`, not an error. */
  decommission(resource: Resource, opts: {signal?: AbortSignal}): Promise<DecommissionOutcome>

  /**
   * Lists the resources whose marker is `deps.owner` (owned), and those named like ours
   * (`hpd-job-<uniqueName>-`) without any marker (unmarked), for the orphan sweep.
   */
  listOwned(opts: {signal?: AbortSignal}): Promise<OwnedListing>

  /** Resource → JSON for the state file. Must contain no secret. */
  serialise(resource: Resource): Json
  /** JSON from the state file → resource. Throws on a dump it cannot read. */
  restore(dump: Json): Resource

  /** Loads whatever the executor loads lazily; hosts await it before using the executor. */
  ready?(): Promise<unknown>
}

/**
 * What an executor plugin contributes: its name, the schema of its own config keys,
 * and a constructor. Returned by plugins through the `paas:executors` hook.
 */
export interface ExecutorFactory<C extends Record<string, unknown> = Record<string, unknown>> {
  /** Value of `executor = "…"` in `[[runners]]`. */
  name: string
  /** One line for `--help`, `register` and error messages. */
  description: string
  /**
   * Who the executor is for: `production` (default), `development` (runs real jobs, on a
   * workstation) or `testing` (a test double or demo: runs nothing real). `executors` shows it.
   */
  audience?: 'production' | 'development' | 'testing'
  /**
   * zod object schema of the executor-specific keys of a `[[runners]]` table.
   * Its shape's keys are the keys the executor owns: they are never forwarded to the inner runner.
   */
  configSchema: z.ZodObject<z.ZodRawShape>
  /**
   * What GitLab is told of this executor's jobs (`info.executor`, `info.features`): declare it when
   * the inner runner is not GitLab Runner's docker executor, or does not support all of its
   * features (say, no services). Default: `DOCKER_INNER_RUNNER`.
   */
  innerRunner?: InnerRunnerInfo
  /** Config keys (of this executor) whose values are secrets, for redaction. */
  secretKeys?: readonly string[]
  /** Flavors known without I/O, used to check `[quota_computation]` at load time. */
  staticFlavors?: readonly Flavor[]
  /** What `register` asks for this executor, and the keys it writes without asking. */
  registration?: {
    questions: readonly RegistrationQuestion[]
    /** Written into every new `[[runners]]` section of this executor. */
    defaults?: Record<string, unknown>
    /** Flavor used as `reference_flavor` when `register` creates a new file and no maximum flavor is known. */
    referenceFlavor: string
    /**
     * The key holding the heaviest flavor a job may ask for (`cc_max_flavor`). `register` asks
     * for it, and sizes `[quota_computation]` so that a job of that flavor fits.
     */
    maxFlavorKey?: string
    /** Flavors `register` offers when the live list cannot be fetched (no credentials yet, API down). */
    knownFlavors?: readonly Flavor[]
  }
  create(runner: RunnerConfig<C>, deps: ExecutorDeps): Executor
}

/** One question `register` asks; its answer becomes the config key `key`. */
export interface RegistrationQuestion {
  key: string
  message: string
  kind: 'input' | 'secret' | 'choice'
  /** For `choice`: the values offered (booleans allowed). */
  choices?: ReadonlyArray<{name: string; value: string | boolean}>
  /** Asked only when this holds for the answers so far. */
  when?(answers: Record<string, unknown>): boolean
  /** Checks an answer: an error message, or undefined when fine. */
  validate?(value: string): string | undefined
}

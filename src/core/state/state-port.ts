import type {RevisionMap} from '../revision-map.js'
import type {JobPhase, JobRecord, KeptResource, OrphanMark} from './job-record.js'

/**
 * What the dispatcher and `status` read of the state, whatever stores it (the file journal or
 * PostgreSQL). The maps are the store's cache of what was committed, keyed `runner/jobId` and
 * `runner/resourceId`.
 */
export interface JobStateView {
  /** Where the state lives, for messages: a file path or a URL without its password. */
  readonly path: string
  /**
   * Job records by `runner/jobId`. `put` sets an entry before its commit resolves; a caller
   * whose `put` failed deletes the entry it set (the job is then not tracked).
   */
  readonly records: RevisionMap<string, JobRecord>
  readonly orphans: ReadonlyMap<string, OrphanMark>
  readonly kept: ReadonlyMap<string, KeptResource>
  /** Identity of this installation (GitLab `system_id`, ownership marker), once set. */
  readonly systemId: string | undefined
}

/**
 * Durable job records, written ahead of every side effect: each method resolves only once its
 * change is durable (fsynced, or committed by the database), and changes of one store are
 * applied in the order they were asked. Every method is idempotent for the same arguments.
 */
export interface JobStatePort extends JobStateView {
  /** Records (or replaces) a job record; its payload is stored once, not with every change. */
  put(record: JobRecord): Promise<void>
  /** Moves a record to a new phase (and other fields), stamping `phaseSince`; returns the new record. */
  transition(record: JobRecord, phase: JobPhase, changes?: Partial<JobRecord>): Promise<JobRecord>
  /** Forgets a job record (its resource is gone or was never made). No-op when absent. */
  delete(runner: string, jobId: number): Promise<void>
  /** Notes a resource of ours that no record knows (the orphan sweep's grace period starts). */
  markOrphan(m: OrphanMark): Promise<void>
  /** Forgets an orphan mark. No-op when absent. */
  unmarkOrphan(runner: string, id: string): Promise<void>
  /** Notes a resource left in place on purpose. */
  keep(k: KeptResource): Promise<void>
  /** Sets the identity of this installation, once, at first start. */
  setSystemId(systemId: string): Promise<void>
  /** Waits for pending commits, then stops accepting more and releases the storage. */
  close(): Promise<void>
}

/** What opening a store found, for the start-up log. */
export interface LoadReport {
  /** Nothing was stored yet (no file; an empty database schema). */
  fresh: boolean
  /** A state file of the original (0.6.3) was imported; its copy is at this path. */
  importedFrom?: string
  /** Lines torn by a crash or a full disk were cut (wherever they lay); the file as it was is kept at `backup`. */
  tornTail: boolean
  backup?: string
  warnings: string[]
  /** Entries that are not valid (each an error of that record): kept in the storage, ignored. */
  errors: string[]
}

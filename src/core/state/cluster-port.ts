import {PaasRunnerError} from '../errors.js'
import type {JobRecord} from './job-record.js'

/** The limits every admission of the cluster is checked against (the same in every daemon's config). */
export interface ClusterLimits {
  quota: number
  concurrent: number
  maxProvisioning: number
  /** A record deleting its resource for longer than this, after a failed delete, stops counting (as in capacity.ts). */
  deleteHoldMs: number
  /**
   * A refused request keeps its place in the cluster's line while its daemon asks again within
   * this (its own retry period, with a margin): requests waiting longer go first, across daemons.
   */
  waitingFreshMs: number
}

/** Why the cluster's ledger refused a reservation, with its cluster-wide figures. */
export type LedgerBlocker =
  | {kind: 'concurrent'; jobs: number; limit: number}
  | {kind: 'provisioning'; jobs: number; limit: number}
  | {kind: 'quota'; used: number; total: number; needs: number}
  /** The limits allow it, but requests refused before it (of any daemon: `runner on daemon`) go first. */
  | {kind: 'turn'; after: string[]}

/** How the last lease renewal went. `lost`: the lease expired before it could be renewed; others may have adopted our jobs. */
export type LeaseState = 'held' | 'unreachable' | 'lost'

/** What the orphan sweep must know of the whole cluster before it may call a resource an orphan. */
export interface ClusterKnown {
  jobIds: ReadonlySet<number>
  resourceIds: ReadonlySet<string>
}

/**
 * Several daemons on one database (PostgreSQL): the membership of this daemon (its lease), the
 * shared admission ledger, the adoption of the jobs of daemons whose lease expired, and the one
 * orphan sweeper. The file journal has no cluster: the dispatcher then keeps its in-memory admission.
 * Every method may throw when the database is unreachable; the dispatcher treats that as "not now".
 */
export interface ClusterPort {
  /** This daemon's id in the cluster (its row among the daemons). */
  readonly daemonId: string
  /** Seconds of the lease; renewed every third of it. */
  readonly leaseMs: number
  /**
   * Renews the lease (only while it has not expired: an expired lease is never revived).
   * `unreachable`: the database did not answer; `lost`: this daemon must not act on its jobs any more.
   */
  renew(): Promise<LeaseState>
  /** True while the last renewal succeeded less than a lease ago, by this daemon's own clock (with a margin). */
  leaseValid(): boolean
  /**
   * Reserves `weight` (and a job, and a provisioning slot) for a job request of `runner`, in one
   * transaction under the ledger's lock, against everything the cluster tracks and reserves.
   * Undefined when granted, else why not. The reservation lasts until `release` or until the
   * record of the job acquired replaces it (`put` of an `acquired` record of that runner).
   */
  reserve(runner: string, weight: number, limits: ClusterLimits): Promise<LedgerBlocker | undefined>
  /**
   * Whether, at the last reservation granted, requests (of any daemon) were waiting in the
   * ledger's line: capacity is scarce across the cluster, and the request granted must not hold a
   * long poll (its reservation would keep them waiting for the whole hold).
   */
  othersWaiting(): boolean
  /** Drops the reservation of `runner`'s request (the request got no job, or failed). */
  release(runner: string): Promise<void>
  /**
   * Takes over, atomically, the jobs of daemons whose lease expired (and jobs nobody holds).
   * Their records are now in the store's `records`, owned by this daemon; returned to be resumed.
   * `errors`: rows taken that cannot be opened or are not valid (kept in the database, not driven).
   */
  adopt(): Promise<{records: JobRecord[]; errors: string[]}>
  /**
   * Is this daemon the one that sweeps orphans now? (A lease of its own, renewed with each call.)
   * On taking it over, the store's orphan marks and kept resources are read again from the database.
   */
  holdSweep(): Promise<boolean>
  /** Every job and resource any daemon of the cluster tracks or keeps, read after the listing it checks. */
  known(runner: string): Promise<ClusterKnown>
  /** Leaves the cluster at shutdown: the lease ends now, so the jobs left are adopted at once. */
  leave(): Promise<void>
}

/**
 * A change refused because this daemon no longer holds the job: its lease expired, or another
 * daemon adopted the job. The daemon stops driving that job and does nothing more for it.
 */
export class FencedError extends PaasRunnerError {
  constructor(message: string) {
    super('state_fenced', message)
  }
}

/** Recognised by its code, not `instanceof` (errors may cross module copies). */
export function isFenced(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as {code?: unknown}).code === 'state_fenced'
}

import {z} from 'zod'

import {formatWeight} from './flavor-weight.js'

/**
 * Why a runner may not ask for a job now, as data: a kind and its figures. Metrics count the
 * kind, logs and views word it with `describeBlocker`; nothing parses the words back. The schema
 * is the definition (the snapshot that `status` reads carries it); the type is derived from it.
 */
export const intakeBlockerSchema = z.discriminatedUnion('kind', [
  z.object({kind: z.literal('quota_unknown')}),
  z.object({kind: z.literal('operator')}),
  z.object({kind: z.literal('concurrent'), jobs: z.number(), limit: z.number()}),
  z.object({kind: z.literal('provisioning'), jobs: z.number(), limit: z.number()}),
  z.object({kind: z.literal('quota'), used: z.number(), total: z.number(), needs: z.number()}),
  /** The capacity left is for runners that have waited longer (fair shares): this one goes after them. */
  z.object({kind: z.literal('turn'), after: z.array(z.string())}),
])

export type IntakeBlocker = z.infer<typeof intakeBlockerSchema>

/** Runners that have waited longer for capacity than the one asking, and what they need. */
export interface WaitingAhead {
  names: string[]
  /** Sum of their minimum requestable weights. */
  weight: number
}

export interface AdmissionInput {
  /** Weighted quota; undefined while it cannot be computed yet. */
  quota: number | undefined
  /** Weight of tracked jobs plus reservations of requests in flight. */
  weightInUse: number
  /** Jobs tracked (including those being deleted) plus requests in flight. */
  jobs: number
  concurrent: number
  /** Jobs acquired but not yet confirmed started, plus requests in flight. */
  provisioning: number
  maxProvisioning: number
  /** Weight this runner needs free before it may ask for a job. */
  minRequestableWeight: number
  /** Runners waiting for capacity since before this one (absent: nobody). */
  ahead?: WaitingAhead
}

/** Float noise tolerance: 8 jobs of weight w must fit in a quota of 8 × w. */
const EPSILON = 1e-9

/**
 * May this runner ask for a job now? Undefined if yes, else the blocker with its figures. The
 * limits are checked first on their own (a limit reached blocks everyone); then the runners that
 * waited longer are served first: this one may go only if what is free covers them too.
 */
export function admissionBlocker(a: AdmissionInput): IntakeBlocker | undefined {
  if (a.quota === undefined) return {kind: 'quota_unknown'}
  if (a.jobs >= a.concurrent) return {kind: 'concurrent', jobs: a.jobs, limit: a.concurrent}
  if (a.provisioning >= a.maxProvisioning) return {kind: 'provisioning', jobs: a.provisioning, limit: a.maxProvisioning}
  if (a.quota - a.weightInUse + EPSILON < a.minRequestableWeight)
    return {kind: 'quota', used: a.weightInUse, total: a.quota, needs: a.minRequestableWeight}
  const ahead = a.ahead
  if (ahead && ahead.names.length > 0) {
    const n = ahead.names.length
    const fits =
      a.jobs + n < a.concurrent &&
      a.provisioning + n < a.maxProvisioning &&
      a.quota - a.weightInUse - ahead.weight + EPSILON >= a.minRequestableWeight
    if (!fits) return {kind: 'turn', after: ahead.names}
  }
  return undefined
}

/** The blocker in words, with its figures, e.g. "quota 71.3/76.1 used; largest flavor needs 13.5". */
export function describeBlocker(b: IntakeBlocker): string {
  switch (b.kind) {
    case 'quota_unknown':
      return 'quota not computed yet (flavors of the reference runner unavailable)'
    case 'operator':
      return 'paused by the operator'
    case 'concurrent':
      return `concurrent limit reached: ${b.jobs}/${b.limit} jobs`
    case 'provisioning':
      return `provisioning limit reached: ${b.jobs}/${b.limit} jobs not yet started`
    case 'quota':
      return `quota ${formatWeight(b.used)}/${formatWeight(b.total)} used; largest flavor needs ${formatWeight(b.needs)}`
    case 'turn':
      return `waiting for its turn: capacity is scarce and ${b.after.join(', ')} waited longer`
  }
}

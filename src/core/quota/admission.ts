import {formatWeight} from './flavor-weight.js'

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
}

/** Float noise tolerance: 8 jobs of weight w must fit in a quota of 8 × w. */
const EPSILON = 1e-9

/**
 * May this runner ask for a job now? Undefined if yes, else the reason with its figures,
 * e.g. "quota 71.3/76.1 used; largest flavor needs 13.5".
 */
export function admissionBlocker(a: AdmissionInput): string | undefined {
  if (a.quota === undefined) return 'quota not computed yet (flavors of the reference runner unavailable)'
  if (a.jobs >= a.concurrent) return `concurrent limit reached: ${a.jobs}/${a.concurrent} jobs`
  if (a.provisioning >= a.maxProvisioning) return `provisioning limit reached: ${a.provisioning}/${a.maxProvisioning} jobs not yet started`
  if (a.quota - a.weightInUse + EPSILON < a.minRequestableWeight) {
    return `quota ${formatWeight(a.weightInUse)}/${formatWeight(a.quota)} used; largest flavor needs ${formatWeight(a.minRequestableWeight)}`
  }
  return undefined
}

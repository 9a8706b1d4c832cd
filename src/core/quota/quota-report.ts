import type {Config} from '../config/config-types.js'
import type {Flavor} from './flavor-weight.js'
import {formatWeight} from './flavor-weight.js'
import {computeWeightedQuota, jobsFitting} from './quota.js'

export interface RunnerQuotaInput {
  flavors: ReadonlyMap<string, Flavor>
  minRequestableWeight: number
}

export interface QuotaReport {
  quota: number
  explanation: string
  concurrent: number
  maxConcurrentProvisioning: number
  runners: Array<{
    index: number
    name: string | null
    executor: string
    minRequestableWeight: number
    flavors: Array<{name: string; ramMiB: number; cpus: number | null; weight: number; jobsFitting: number}>
  }>
  warnings: string[]
}

/**
 * What the quota means for each runner and flavor, and where the configuration defeats itself.
 * Pure: flavors and minimum weights are fetched by the caller.
 */
export function buildQuotaReport(config: Config, inputs: readonly RunnerQuotaInput[]): QuotaReport {
  const qc = config.quotaComputation
  const refIndex = config.runners.findIndex((r) => r.name === qc.referenceRunner)
  const ref = inputs[refIndex]
  if (!ref) throw new Error(`reference runner '${qc.referenceRunner}' not found`)
  const {total: quota, explanation} = computeWeightedQuota(qc, ref.flavors)
  const warnings: string[] = []

  const runners = config.runners.map((r, i) => {
    const input = inputs[i]!
    const flavors = [...input.flavors.values()]
      .sort((a, b) => a.weight - b.weight)
      .map((f) => ({
        name: f.name,
        ramMiB: f.ramMiB,
        cpus: f.cpus ?? null,
        weight: f.weight,
        jobsFitting: jobsFitting(quota, f),
      }))
    const label = r.name ? `'${r.name}'` : `runners[${r.index}]`
    if (quota < input.minRequestableWeight) {
      warnings.push(
        `the quota (${formatWeight(quota)}) is smaller than the weight runner ${label} needs free before it is polled ` +
          `(${formatWeight(input.minRequestableWeight)}): intake would never start for it`,
      )
    }
    const smallest = flavors[0]
    if (smallest && config.concurrent < smallest.jobsFitting) {
      warnings.push(
        `concurrent = ${config.concurrent} is below what the quota allows for runner ${label} ` +
          `(${smallest.jobsFitting} jobs of flavor ${smallest.name}): concurrent will be the limit for small jobs`,
      )
    }
    return {
      index: r.index,
      name: r.name ?? null,
      executor: r.executor,
      minRequestableWeight: input.minRequestableWeight,
      flavors,
    }
  })

  const refFlavor = ref.flavors.get(qc.referenceFlavor)!
  if (refFlavor.weight > ref.minRequestableWeight + 1e-9) {
    warnings.push(
      `the reference flavor ${qc.referenceFlavor} (${formatWeight(refFlavor.weight)}) is above the heaviest flavor runner '${qc.referenceRunner}' accepts ` +
        `(weight ${formatWeight(ref.minRequestableWeight)}): the quota is not expressed in jobs that can run`,
    )
  }
  if (config.maxConcurrentProvisioning > config.concurrent) {
    warnings.push(
      `paas_max_concurrent_provisioning = ${config.maxConcurrentProvisioning} is above concurrent = ${config.concurrent}: it can never be reached`,
    )
  }
  return {
    quota,
    explanation,
    concurrent: config.concurrent,
    maxConcurrentProvisioning: config.maxConcurrentProvisioning,
    runners,
    warnings,
  }
}

import type {Config} from '../config/config-types.js'

/**
 * What every daemon of a cluster must share, as the cluster records it: the runners (short token
 * and URL, never the token), the quota computation and the limits.
 */
export function clusterSettings(config: Config): Record<string, unknown> {
  const qc = config.quotaComputation
  return {
    runners: config.runners
      .map((r) => ({runner: r.uniqueName, url: r.url}))
      .sort((a, b) => `${a.runner} ${a.url}`.localeCompare(`${b.runner} ${b.url}`)),
    quota_computation: {
      reference_runner: qc.referenceRunner,
      reference_flavor: qc.referenceFlavor,
      reference_jobs_count: qc.referenceJobsCount,
    },
    concurrent: config.concurrent,
    paas_max_concurrent_provisioning: config.maxConcurrentProvisioning,
  }
}

/** The settings of this daemon that differ from the cluster's, one phrase each. */
export function diffSettings(mine: Record<string, unknown>, cluster: Record<string, unknown>): string[] {
  const out: string[] = []
  for (const key of new Set([...Object.keys(mine), ...Object.keys(cluster)])) {
    const a = mine[key]
    const b = cluster[key]
    if (canonical(a) === canonical(b)) continue
    if (key === 'runners' && Array.isArray(a) && Array.isArray(b)) {
      const name = canonical
      const onlyMine = a.filter((r) => !b.some((o) => name(o) === name(r)))
      const onlyCluster = b.filter((r) => !a.some((o) => name(o) === name(r)))
      if (onlyMine.length)
        out.push(
          `runners: this configuration has ${onlyMine.map(describeRunner).join(', ')}, which the cluster does not`,
        )
      if (onlyCluster.length)
        out.push(
          `runners: the cluster has ${onlyCluster.map(describeRunner).join(', ')}, which this configuration does not`,
        )
      continue
    }
    out.push(`${key}: this configuration has ${canonical(a ?? null)}, the cluster ${canonical(b ?? null)}`)
  }
  return out
}

/** JSON with the keys of every object sorted: the database (jsonb) does not keep their order. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x).sort(([p], [q]) => p.localeCompare(q)))
      : x,
  )
}

function describeRunner(r: unknown): string {
  const o = r as {runner?: string; url?: string}
  return `${o.runner ?? '?'} at ${o.url ?? '?'}`
}

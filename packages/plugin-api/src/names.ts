/**
 * Resource names. Every resource of a job is named `hpd-job-<runner unique name>-<job id>`, so
 * that the orphan sweep can find it by name; ownership is proved by the marker, not by the name.
 * Each PAAS has its own naming rule: pass the name through the helper of yours before use.
 */

/** Resource name for a job: `hpd-job-<runner unique name>-<job id>`, as the host expects it. */
export function resourceName(uniqueName: string, jobId: number): string {
  return `${resourceNamePrefix(uniqueName)}${jobId}`
}

export function resourceNamePrefix(uniqueName: string): string {
  return `hpd-job-${uniqueName}-`
}

/** Job id from a resource name of this runner, or undefined if the name is not ours. */
export function jobIdFromResourceName(uniqueName: string, name: string): number | undefined {
  const prefix = resourceNamePrefix(uniqueName)
  if (!name.startsWith(prefix)) return undefined
  const rest = name.slice(prefix.length)
  return /^\d+$/.test(rest) ? Number(rest) : undefined
}

/** Max length of an RFC 1123 DNS label (Kubernetes object names, hostnames). */
export const DNS_LABEL_MAX = 63

/**
 * `name` as an RFC 1123 DNS label (Kubernetes pods and services, many PAAS app names): lower case,
 * `[a-z0-9-]` only (`_` and `.` become `-`), starts and ends with an alphanumeric, at most 63
 * characters. Deterministic, so the same job always gets the same name. Two names that differ only by case
 * or `_` map to the same label: ownership is proved by the marker, never by the name.
 * Throws a RangeError when nothing valid is left.
 */
export function dns1123Label(name: string): string {
  const out = name
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, DNS_LABEL_MAX)
    .replace(/^-+|-+$/g, '')
  if (!out) throw new RangeError(`no DNS label can be made from ${JSON.stringify(name)}`)
  return out
}

export function isDns1123Label(name: string): boolean {
  return name.length <= DNS_LABEL_MAX && /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(name)
}

/** `resourceName` made a valid DNS-1123 label (Kubernetes): `hpd-job-abcdefgh_-42` → `hpd-job-abcdefgh--42`. */
export function dns1123ResourceName(uniqueName: string, jobId: number): string {
  return dns1123Label(resourceName(uniqueName, jobId))
}

/**
 * A name valid both for a Docker container (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`) and as an image
 * repository: lower case, and between two alphanumerics only one `.`, one `_`, `__` or any number
 * of `-` (`abc_-42` is not a valid image name: the engine answers "invalid reference format").
 * Any other character, or any other run of separators, becomes one `-`; none at either end.
 */
export function dockerName(name: string): string {
  const out = name
    .toLowerCase()
    .replace(/[^a-z0-9_.-]/g, '-')
    .replace(/[._-]+/g, (run) => (/^(\.|_|__|-+)$/.test(run) ? run : '-'))
    .replace(/^[._-]+|[._-]+$/g, '')
  if (!out) throw new RangeError(`no Docker name can be made from ${JSON.stringify(name)}`)
  return out
}

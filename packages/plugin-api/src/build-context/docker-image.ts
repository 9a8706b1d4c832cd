/**
 * Image-name handling for the build context (original-spec §5.7): Docker's domain split,
 * Go-style `$VAR` / `${VAR}` expansion, and dependency-proxy rewriting with service aliases.
 */
import type {JobPayload} from '../job-payload.js'

/** Port of Docker's splitDockerDomain: (domain, remainder). Tags and digests stay in the remainder. */
export function splitDockerDomain(name: string): [string, string] {
  const i = name.indexOf('/')
  let domain: string
  let remainder: string
  const first = i < 0 ? '' : name.slice(0, i)
  if (
    i < 0 ||
    (!first.includes('.') && !first.includes(':') && first !== 'localhost' && first.toLowerCase() === first)
  ) {
    domain = 'docker.io'
    remainder = name
  } else {
    domain = first
    remainder = name.slice(i + 1)
  }
  if (domain === 'index.docker.io') domain = 'docker.io'
  if (domain === 'docker.io' && !remainder.includes('/')) remainder = `library/${remainder}`
  return [domain, remainder]
}

/**
 * Go `os.Expand`-like expansion: `$NAME` (NAME in [A-Za-z0-9_]) or `${…}` up to the first `}`.
 * Unknown variables expand to ''. Values are expanded in turn (depth-limited: no infinite loop).
 */
export function expandVariables(text: string, vars: ReadonlyMap<string, string>, depth = 0): string {
  if (depth > 16) return text
  let out = ''
  let i = 0
  while (i < text.length) {
    const c = text[i]!
    if (c !== '$' || i + 1 >= text.length) {
      out += c
      i++
      continue
    }
    const next = text[i + 1]!
    if (next === '{') {
      const end = text.indexOf('}', i + 2)
      if (end < 0) {
        out += text.slice(i)
        break
      }
      out += expandVariables(vars.get(text.slice(i + 2, end)) ?? '', vars, depth + 1)
      i = end + 1
      continue
    }
    const m = /^[A-Za-z0-9_]+/.exec(text.slice(i + 1))
    if (!m) {
      out += c
      i++
      continue
    }
    out += expandVariables(vars.get(m[0]) ?? '', vars, depth + 1)
    i += 1 + m[0].length
  }
  return out
}

/**
 * Service alias GitLab Runner would give: the name without tag or digest, `/` → `-`
 * (`nginx:latest` → `nginx`, `tutum/wordpress` → `tutum-wordpress`).
 * Unlike the original, a digest (`image@sha256:…`) is dropped as well.
 */
export function serviceAlias(expandedName: string): string {
  let n = expandedName.split('@')[0]!
  const slash = n.lastIndexOf('/')
  const colon = n.lastIndexOf(':')
  if (colon > slash) n = n.slice(0, colon)
  return n.replaceAll('/', '-')
}

/**
 * Rewrites Docker Hub images (main image and services) through the group's dependency proxy
 * (`CI_DEPENDENCY_PROXY_GROUP_IMAGE_PREFIX`), giving services without alias the alias they
 * would have had. Returns a new payload; other images are untouched. Idempotent.
 */
export function amendForDependencyProxy(job: JobPayload): JobPayload {
  const vars = new Map((job.variables ?? []).map((v) => [v.key, v.value]))
  const prefix = vars.get('CI_DEPENDENCY_PROXY_GROUP_IMAGE_PREFIX')
  if (!prefix) return job
  const out: JobPayload = {...job}
  if (job.image && typeof job.image.name === 'string' && job.image.name) {
    const [domain, rest] = splitDockerDomain(expandVariables(job.image.name, vars))
    if (domain === 'docker.io') out.image = {...job.image, name: `${prefix}/${rest}`}
  }
  if (Array.isArray(job.services)) {
    out.services = job.services.map((s) => {
      if (!s || typeof s.name !== 'string') return s
      const expanded = expandVariables(s.name, vars)
      const [domain, rest] = splitDockerDomain(expanded)
      if (domain !== 'docker.io') return s
      return {...s, name: `${prefix}/${rest}`, ...(s.alias ? {} : {alias: serviceAlias(expanded)})}
    })
  }
  return out
}

/**
 * What the Docker Engine checks before it acts, for the simulator: API versions, image
 * references, container names, list filters, and the multiplexed log stream format.
 */

/** `a.b` vs `c.d`: negative, zero or positive. */
export function compareVersions(a: string, b: string): number {
  const [am = 0, an = 0] = a.split('.').map(Number)
  const [bm = 0, bn = 0] = b.split('.').map(Number)
  return am === bm ? an - bn : am - bm
}

/** The engine's 400 message for a client version outside its range, or undefined when accepted. */
export function versionError(client: string, min: string, max: string): string | undefined {
  if (compareVersions(client, max) > 0)
    return `client version ${client} is too new. Maximum supported API version is ${max}`
  if (compareVersions(client, min) < 0)
    return `client version ${client} is too old. Minimum supported API version is ${min}, please upgrade your client to a newer version`
  return undefined
}

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*'
const DOMAIN =
  '(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)?'
const REFERENCE = new RegExp(`^${DOMAIN}${COMPONENT}(?:/${COMPONENT})*(?::[\\w][\\w.-]{0,127})?$`)

/** A tag given to `build -t`, normalised to `name:tag`; or the engine's error. */
export function parseTag(ref: string): {ref: string} | {error: string} {
  if (!REFERENCE.test(ref)) {
    const lower = ref.toLowerCase()
    return {
      error:
        lower !== ref && REFERENCE.test(lower)
          ? 'invalid reference format: repository name must be lowercase'
          : 'invalid reference format',
    }
  }
  return {ref: /:[^:/]+$/.test(ref) ? ref : `${ref}:latest`}
}

const CONTAINER_NAME = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/

export function containerNameError(name: string): string | undefined {
  return CONTAINER_NAME.test(name)
    ? undefined
    : `Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`
}

/** `filters` of a list call: `{"key": ["v", …]}` (or the older `{"key": {"v": true}}`). Throws on bad JSON. */
export function parseFilters(raw: string | null): Record<string, string[]> {
  if (!raw) return {}
  const f = JSON.parse(raw) as unknown
  if (!f || typeof f !== 'object' || Array.isArray(f)) throw new Error('filters must be a JSON object')
  const out: Record<string, string[]> = {}
  for (const [k, v] of Object.entries(f as Record<string, unknown>)) {
    if (Array.isArray(v)) out[k] = v.map(String)
    else if (v && typeof v === 'object') out[k] = Object.keys(v)
    else throw new Error(`bad filter value for ${k}`)
  }
  return out
}

/** Every `label` filter holds (`k` present, or `k=v`): Docker ANDs them. */
export function labelsMatch(labels: Record<string, string>, wanted: readonly string[] = []): boolean {
  return wanted.every((w) => {
    const i = w.indexOf('=')
    return i < 0 ? w in labels : labels[w.slice(0, i)] === w.slice(i + 1)
  })
}

/** Docker's `reference` filter: a glob (`*` stops at `/`) on `name`, or on `name:tag` when it names a tag. */
export function referenceMatches(pattern: string, ref: string): boolean {
  const target = /:[^:/]*$/.test(pattern) ? ref : ref.replace(/:[^:/]+$/, '')
  const re = new RegExp(
    `^${pattern
      .split('*')
      .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('[^/]*')}$`,
  )
  return re.test(target)
}

/** One frame of a multiplexed (non-TTY) log stream: stream id, 3 zero bytes, big-endian size, payload. */
export function logFrame(stream: 1 | 2, text: string): Buffer {
  const payload = Buffer.from(text)
  const header = Buffer.alloc(8)
  header[0] = stream
  header.writeUInt32BE(payload.length, 4)
  return Buffer.concat([header, payload])
}

/**
 * Structural redaction: every secret the process learns (runner, job, Clever, admin tokens)
 * is registered here once, and every string that leaves the process through logs, errors,
 * status or state dumps goes through `redact()`. Call sites never have to remember.
 */
export const REDACTED = '[REDACTED]'

/** Secrets shorter than this are not registered: they would mangle ordinary text. */
const MIN_SECRET_LENGTH = 6

/** Key names whose values are secrets wherever they appear in a structure. */
const SECRET_KEY = /(^|_|-)(token|password|secret|secretkey|accesskey|private[-_]?token|authorization)$/i

export class Redactor {
  private readonly secrets = new Set<string>()
  private pattern: RegExp | undefined

  /** Registers a secret value. Idempotent. */
  add(secret: string | undefined | null): void {
    if (typeof secret !== 'string' || secret.length < MIN_SECRET_LENGTH || this.secrets.has(secret)) return
    this.secrets.add(secret)
    // URL-encoded forms can also appear (query strings, basic-auth URLs).
    const enc = encodeURIComponent(secret)
    if (enc !== secret) this.secrets.add(enc)
    this.pattern = undefined
  }

  /** Registers every value found under a secret-looking key, recursively. */
  addFromObject(value: unknown): void {
    walk(value, (key, v) => {
      if (typeof v === 'string' && SECRET_KEY.test(key)) this.add(v)
    })
  }

  get size(): number {
    return this.secrets.size
  }

  /** Replaces every registered secret, and URL credentials, in a string. */
  redact(text: string): string {
    if (this.secrets.size > 0) {
      this.pattern ??= new RegExp([...this.secrets].sort((a, b) => b.length - a.length).map(escapeRegExp).join('|'), 'g')
      text = text.replace(this.pattern, REDACTED)
    }
    return redactUrlCredentials(text)
  }

  /** Deep copy of a JSON-like value with secret keys and registered secrets redacted. */
  redactValue<T>(value: T): T {
    return redactDeep(value, this) as T
  }
}

function redactDeep(value: unknown, r: Redactor, key = ''): unknown {
  if (typeof value === 'string') return SECRET_KEY.test(key) ? REDACTED : r.redact(value)
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, r))
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) out[k] = redactDeep(v, r, k)
    return out
  }
  return value
}

function walk(value: unknown, visit: (key: string, v: unknown) => void, key = ''): void {
  visit(key, value)
  if (Array.isArray(value)) for (const v of value) walk(v, visit)
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, visit, k)
}

/** `https://user:pass@host` → `https://user:[REDACTED]@host`. */
export function redactUrlCredentials(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/[^/\s:@]+):[^@\s/]+@/gi, `$1:${REDACTED}@`)
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

import {SecretMatcher} from './secret-matcher.js'

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

/** How long a retired secret (the token of a finished job) is still redacted: late log lines may quote it. */
export const FORGET_RETIRED_AFTER_MS = 600_000

export class Redactor {
  private readonly matcher = new SecretMatcher()
  /** Retired secrets and when they are forgotten, in retirement order (the delay is constant). */
  private readonly retiring: Array<{secret: string; at: number}> = []
  private readonly retiredAt = new Map<string, number>()
  private readonly now: () => number

  /** `now`: the clock deciding when retired secrets are forgotten (wall clock by default). */
  constructor(opts: {now?: () => number} = {}) {
    this.now = opts.now ?? Date.now
  }

  /** Registers a secret value, and its URL-encoded form. Idempotent; cancels a retirement. O(its length). */
  add(secret: string | undefined | null): void {
    if (typeof secret !== 'string' || secret.length < MIN_SECRET_LENGTH) return
    this.retiredAt.delete(secret)
    this.matcher.add(secret)
    // URL-encoded forms can also appear (query strings, basic-auth URLs).
    const enc = encodeURIComponent(secret)
    if (enc !== secret) this.matcher.add(enc)
  }

  /**
   * The secret will not be needed again (the job is over): it is still redacted for
   * FORGET_RETIRED_AFTER_MS, then forgotten, so that a long-lived daemon does not collect every
   * job token it ever saw.
   */
  retire(secret: string | undefined | null): void {
    if (typeof secret !== 'string' || !this.matcher.has(secret) || this.retiredAt.has(secret)) return
    const at = this.now() + FORGET_RETIRED_AFTER_MS
    this.retiredAt.set(secret, at)
    this.retiring.push({secret, at})
  }

  /** Registers every value found under a secret-looking key, recursively. */
  addFromObject(value: unknown): void {
    walk(value, (key, v) => {
      if (typeof v === 'string' && SECRET_KEY.test(key)) this.add(v)
    })
  }

  /** Secrets registered (encoded forms included), retired ones not yet forgotten included. */
  get size(): number {
    this.forgetRetired()
    return this.matcher.size
  }

  /** Replaces every registered secret, and URL credentials, in a string. Cost: the text's length, not the number of secrets. */
  redact(text: string): string {
    this.forgetRetired()
    if (this.matcher.size > 0 && text.length >= MIN_SECRET_LENGTH) {
      const ranges = this.matcher.find(text)
      if (ranges.length > 0) {
        let out = ''
        let from = 0
        for (const [start, end] of ranges) {
          out += text.slice(from, start) + REDACTED
          from = end
        }
        text = out + text.slice(from)
      }
    }
    return redactUrlCredentials(text)
  }

  /** Deep copy of a JSON-like value with secret keys and registered secrets redacted. */
  redactValue<T>(value: T): T {
    return redactDeep(value, this) as T
  }

  private forgetRetired(): void {
    const now = this.now()
    while (this.retiring.length > 0 && this.retiring[0]!.at <= now) {
      const {secret, at} = this.retiring.shift()!
      // Re-added since, or retired again later: not this entry's to forget.
      if (this.retiredAt.get(secret) !== at) continue
      this.retiredAt.delete(secret)
      this.matcher.delete(secret)
      this.matcher.delete(encodeURIComponent(secret))
    }
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

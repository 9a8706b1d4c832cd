/**
 * Fault injection and request counters shared by the simulators.
 * A fault applies to one endpoint pattern (`POST /jobs/request`) or to every endpoint (`*`).
 */
export interface Fault {
  /** Answer this status instead of the real one. */
  status?: number
  /** Body of that answer; a status-appropriate default otherwise. */
  body?: string
  contentType?: string
  headers?: Record<string, string>
  /** Wait this long before handling (or before the fault answer). */
  delayMs?: number
  /** Close the connection without answering. */
  drop?: boolean
  /** Answer the status (default 200/201) with a truncated JSON body. */
  malformed?: boolean
  /** How many requests it applies to; unlimited when absent (until cleared or `untilMs`). */
  times?: number
  /** Applies until this time (simulator clock, ms). */
  untilMs?: number
}

export class FaultInjector {
  private readonly faults = new Map<string, Fault[]>()

  constructor(private readonly now: () => number = Date.now) {}

  add(endpoint: string, fault: Fault): void {
    const list = this.faults.get(endpoint) ?? []
    list.push({...fault})
    this.faults.set(endpoint, list)
  }

  clear(endpoint?: string): void {
    if (endpoint === undefined) this.faults.clear()
    else this.faults.delete(endpoint)
  }

  /** The fault for this request, if any; consumes one of its `times`. */
  take(endpoint: string): Fault | undefined {
    for (const key of [endpoint, '*']) {
      const list = this.faults.get(key)
      if (!list) continue
      while (list.length > 0) {
        const f = list[0]!
        if (f.untilMs !== undefined && this.now() >= f.untilMs) {
          list.shift()
          continue
        }
        if (f.times !== undefined) {
          f.times--
          if (f.times <= 0) list.shift()
        }
        return f
      }
    }
    return undefined
  }
}

/** Requests seen, per endpoint and outcome (status code or `dropped`). */
export class Counters {
  private readonly counts = new Map<string, number>()

  inc(endpoint: string, outcome: number | 'dropped'): void {
    const k = `${endpoint} ${outcome}`
    this.counts.set(k, (this.counts.get(k) ?? 0) + 1)
  }

  /** Count for an endpoint, for one outcome or all of them. */
  get(endpoint: string, outcome?: number | 'dropped'): number {
    if (outcome !== undefined) return this.counts.get(`${endpoint} ${outcome}`) ?? 0
    let n = 0
    for (const [k, v] of this.counts) if (k.startsWith(`${endpoint} `)) n += v
    return n
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.counts].sort(([a], [b]) => a.localeCompare(b)))
  }

  reset(): void {
    this.counts.clear()
  }
}

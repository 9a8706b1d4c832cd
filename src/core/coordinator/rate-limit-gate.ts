/**
 * One gate per remote and kind of call. When a server answers 429 (or 503 with Retry-After),
 * every call of the same kind to that remote waits until the time it asked for, not only the
 * retries of the call that was refused: Clever Cloud blocks clients that ignore its limits, and
 * GitLab's limits are per endpoint and per client.
 */
export interface RateLimitEpisode {
  /** `<remote> <kind>`, e.g. `https://api.clever-cloud.com/v2 orga_x POST /organisations/:orga/applications`. */
  key: string
  /** How long calls of that kind now wait, ms. */
  waitMs: number
}

/** Never wait longer than this for one answer, whatever the server says (a broken header must not stall us for days). */
export const MAX_RATE_LIMIT_WAIT_MS = 600_000

export class RateLimitGate {
  private readonly closedUntil = new Map<string, number>()

  constructor(
    private readonly o: {
      now(): number
      sleep(ms: number, signal?: AbortSignal): Promise<void>
    },
  ) {}

  /** Waits while calls of this kind are held back. Rejects when the signal aborts. */
  async pass(key: string, signal?: AbortSignal): Promise<void> {
    for (;;) {
      const until = this.closedUntil.get(key)
      if (until === undefined) return
      const wait = until - this.o.now()
      if (wait <= 0) {
        this.closedUntil.delete(key)
        return
      }
      await this.o.sleep(wait, signal)
    }
  }

  /**
   * The server asked to wait `waitMs`: hold back every call of this kind until then. Returns the
   * episode when this starts one (calls went through until now), for one log line and a metric
   * per episode rather than per call.
   */
  close(key: string, waitMs: number): RateLimitEpisode | undefined {
    const wait = Math.min(Math.max(0, waitMs), MAX_RATE_LIMIT_WAIT_MS)
    const now = this.o.now()
    const current = this.closedUntil.get(key)
    const fresh = current === undefined || current <= now
    if (current === undefined || current < now + wait) this.closedUntil.set(key, now + wait)
    return fresh ? {key, waitMs: wait} : undefined
  }

  /** Until when calls of this kind are held back (ms), or undefined when they go through. */
  heldUntil(key: string): number | undefined {
    const until = this.closedUntil.get(key)
    return until !== undefined && until > this.o.now() ? until : undefined
  }
}

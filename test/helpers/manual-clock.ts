import type {Clock} from '../../src/core/clock.js'

interface Timer {
  at: number
  seq: number
  resolve(): void
  cleanup(): void
}

/**
 * Virtual time: sleeps only end when the test advances the clock. `runUntil` lets all
 * pending work settle, then jumps to the next timer, until the condition holds.
 */
export class ManualClock implements Clock {
  t: number
  private timers: Timer[] = []
  private seq = 0

  constructor(start = Date.parse('2026-11-28T10:00:00Z')) {
    this.t = start
  }

  now = (): number => this.t

  sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason)
        return
      }
      const onAbort = (): void => {
        this.timers = this.timers.filter((x) => x !== timer)
        reject(signal!.reason)
      }
      const timer: Timer = {
        at: this.t + Math.max(0, ms),
        seq: this.seq++,
        resolve,
        cleanup: () => signal?.removeEventListener('abort', onAbort),
      }
      signal?.addEventListener('abort', onAbort, {once: true})
      this.timers.push(timer)
    })

  timer = (ms: number, fire: () => void): (() => void) => {
    const timer: Timer = {at: this.t + Math.max(0, ms), seq: this.seq++, resolve: fire, cleanup: () => {}}
    this.timers.push(timer)
    return () => {
      this.timers = this.timers.filter((x) => x !== timer)
    }
  }

  get pendingTimers(): number {
    return this.timers.length
  }

  /** Lets promise chains and immediate callbacks run. */
  async settle(): Promise<void> {
    for (let i = 0; i < 30; i++) await new Promise((r) => setImmediate(r))
  }

  /** Moves time forward by `ms`, firing due timers in order. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms
    for (;;) {
      await this.settle()
      const next = this.nextTimer()
      if (!next || next.at > end) break
      this.fire(next)
    }
    this.t = end
    await this.settle()
  }

  /** Advances timer by timer until `cond()` holds; fails past `maxMs` of virtual time. */
  async runUntil(cond: () => boolean, maxMs = 3_600_000, what = 'condition'): Promise<void> {
    const limit = this.t + maxMs
    for (;;) {
      await this.settle()
      if (cond()) return
      const next = this.nextTimer()
      if (!next) throw new Error(`${what}: nothing left to run and still not true`)
      if (next.at > limit) throw new Error(`${what}: not true after ${maxMs} ms of virtual time`)
      this.fire(next)
    }
  }

  private nextTimer(): Timer | undefined {
    let best: Timer | undefined
    for (const t of this.timers) if (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t
    return best
  }

  private fire(t: Timer): void {
    this.timers = this.timers.filter((x) => x !== t)
    if (t.at > this.t) this.t = t.at
    t.cleanup()
    t.resolve()
  }
}

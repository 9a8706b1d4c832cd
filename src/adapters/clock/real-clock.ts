import type {Clock} from '../../core/clock.js'

/** Longest delay node's timers take: beyond it, `setTimeout` fires after 1 ms instead. */
const MAX_TIMER_MS = 2_147_483_647

/** `ms` as node's timers take it: at least 0, at most their limit (also for a delay not finite). */
function timerDelay(ms: number): number {
  return Number.isFinite(ms) ? Math.min(Math.max(0, ms), MAX_TIMER_MS) : MAX_TIMER_MS
}

/**
 * Real-time sleep that ends early, rejecting with the signal's reason, when `signal` aborts.
 * A delay beyond node's timer limit (or not finite) waits that limit, never 1 ms.
 */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  ms = timerDelay(ms)
  return new Promise((resolvePromise, reject) => {
    if (signal?.aborted) {
      reject(signal.reason)
      return
    }
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal!.reason)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolvePromise()
    }, ms)
    signal?.addEventListener('abort', onAbort, {once: true})
  })
}

/** A timer on node's clock, cancelled by the function it returns; the same bounds as abortableSleep. */
export function realTimer(ms: number, fire: () => void): () => void {
  const timer = setTimeout(fire, timerDelay(ms))
  return () => clearTimeout(timer)
}

/** The daemon's clock: node's own time and timers. */
export const realClock: Clock = {now: Date.now, sleep: abortableSleep, timer: realTimer}

import {setMaxListeners} from 'node:events'

/** Time enters the core through this port: real in the daemon, fake in tests. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number
  /** Resolves after `ms`; rejects with the signal's reason as soon as it is aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>
  /**
   * Calls `fire` after `ms`, unless the function returned is called first. For waits that often
   * end early (waitNotified): they need no AbortSignal to cancel a sleep. Node keeps each
   * AbortSignal alive through young-generation collections, so a signal per wait is old-space
   * garbage until the next full collection (~0.2 MB/s with 1,000 polled jobs).
   */
  timer(ms: number, fire: () => void): () => void
}

/** Resolves on the next `notify()`: lets loops wait for capacity without polling. */
export class Notifier {
  private waiters = new Set<() => void>()

  notify(): void {
    const w = this.waiters
    this.waiters = new Set()
    for (const f of w) f()
  }

  /** Calls `f` at the next notify, unless the function returned is called first. */
  onNext(f: () => void): () => void {
    this.waiters.add(f)
    return () => {
      this.waiters.delete(f)
    }
  }

  /** Waits for the next notify, or until `signal` aborts (then resolves too). */
  wait(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) {
        resolve()
        return
      }
      const done = (): void => {
        signal?.removeEventListener('abort', done)
        forget()
        resolve()
      }
      const forget = this.onNext(done)
      signal?.addEventListener('abort', done, {once: true})
    })
  }
}

/**
 * A signal that aborts when any of `signals` does. Unlike AbortSignal.any, its listeners are
 * removed by `dispose()`, so long-lived signals do not collect one listener per call.
 */
export function linkedSignal(...signals: AbortSignal[]): {signal: AbortSignal; dispose(): void} {
  const c = new AbortController()
  const onAbort = (e: Event): void => c.abort((e.target as AbortSignal).reason)
  for (const s of signals) {
    if (s.aborted) {
      c.abort(s.reason)
      break
    }
    s.addEventListener('abort', onAbort, {once: true})
  }
  return {signal: c.signal, dispose: () => signals.forEach((s) => s.removeEventListener('abort', onAbort))}
}

/**
 * Waits for `notifier`, at most `ms` on `clock`, or until `signal` aborts. Never throws. Loops call
 * it at each turn (the progress loop once per check): it makes no AbortSignal (see Clock.timer).
 */
export function waitNotified(notifier: Notifier, clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve()
  return new Promise((resolve) => {
    let cancelTimer = (): void => {}
    const done = (): void => {
      cancelTimer()
      forget()
      signal.removeEventListener('abort', done)
      resolve()
    }
    const forget = notifier.onNext(done)
    signal.addEventListener('abort', done, {once: true})
    // Last: whatever the clock, `done` finds everything it undoes in place.
    cancelTimer = clock.timer(ms, done)
  })
}

/**
 * An AbortController for a signal many waits listen to at once: every runner's loop and every
 * job's wait adds a listener and removes it when done, so Node's default limit (10, then a
 * MaxListenersExceededWarning) only measures how many runners there are.
 */
export function sharedAbortController(): AbortController {
  const c = new AbortController()
  setMaxListeners(0, c.signal)
  return c
}

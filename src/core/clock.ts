import {setMaxListeners} from 'node:events'

/** Time enters the core through this port: real in the daemon, fake in tests. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number
  /** Resolves after `ms`; rejects with the signal's reason as soon as it is aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>
}

/** Resolves on the next `notify()`: lets loops wait for capacity without polling. */
export class Notifier {
  private waiters = new Set<() => void>()

  notify(): void {
    const w = this.waiters
    this.waiters = new Set()
    for (const f of w) f()
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
        this.waiters.delete(done)
        resolve()
      }
      this.waiters.add(done)
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
 * Why a wait's own signal ends once the wait is over: made once, as an `abort()` without a reason
 * builds a DOMException with its stack at every wait (the progress loop waits once per check).
 */
const WAIT_OVER = new Error('the wait is over')

/** Waits for `notifier`, at most `ms` on `clock`, or until `signal` aborts. Never throws. */
export async function waitNotified(notifier: Notifier, clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  const local = new AbortController()
  const both = linkedSignal(signal, local.signal)
  try {
    await Promise.race([notifier.wait(both.signal), clock.sleep(ms, both.signal).catch(() => {})])
  } finally {
    local.abort(WAIT_OVER)
    both.dispose()
  }
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

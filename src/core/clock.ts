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

/** Waits for `notifier`, at most `ms` on `clock`, or until `signal` aborts. Never throws. */
export async function waitNotified(notifier: Notifier, clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  const local = new AbortController()
  const both = AbortSignal.any([signal, local.signal])
  await Promise.race([notifier.wait(both), clock.sleep(ms, both).catch(() => {})])
  local.abort()
}

/**
 * The one backoff of the daemon: exponential, capped, with half jitter (a wait in [d/2, d]), so
 * that many clients retrying at once spread out, and none waits less than half the step.
 * `attempt` counts from 1.
 */
export function backoffDelayMs(attempt: number, o: {baseMs: number; maxMs: number; factor?: number}, random: () => number): number {
  const d = Math.min(o.maxMs, o.baseMs * (o.factor ?? 2) ** (attempt - 1))
  return d / 2 + random() * (d / 2)
}

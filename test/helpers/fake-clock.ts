/** A clock that only moves when something sleeps on it: retries and backoffs take no real time. */
export class FakeClock {
  t: number
  readonly sleeps: number[] = []

  constructor(start = Date.parse('2026-11-28T10:00:00Z')) {
    this.t = start
  }

  now = (): number => this.t

  sleep = async (ms: number, signal?: AbortSignal): Promise<void> => {
    signal?.throwIfAborted()
    this.sleeps.push(ms)
    this.t += ms
    await new Promise((r) => setImmediate(r))
    signal?.throwIfAborted()
  }
}

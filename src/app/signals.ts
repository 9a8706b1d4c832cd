/**
 * The daemon's stop signals, in one place: the first SIGTERM, SIGINT or SIGQUIT asks for a graceful
 * stop (`stopRequested` resolves with its name), a second one calls `onForce` (exit at once: the
 * state is always up to date). SIGQUIT is gitlab-runner's graceful stop: the same here (running
 * jobs are never cut: they run on their resources). `dispose` removes the handlers.
 */
export function stopSignals(o: {
  onFirst?: (signal: NodeJS.Signals) => void
  onForce: () => void
  signals?: readonly NodeJS.Signals[]
}): {
  stopRequested: Promise<NodeJS.Signals>
  dispose(): void
} {
  const signals = o.signals ?? (['SIGTERM', 'SIGINT', 'SIGQUIT'] as const)
  let count = 0
  let resolve!: (s: NodeJS.Signals) => void
  const stopRequested = new Promise<NodeJS.Signals>((r) => (resolve = r))
  const onSignal = (signal: NodeJS.Signals): void => {
    count++
    if (count > 1) return o.onForce()
    o.onFirst?.(signal)
    resolve(signal)
  }
  for (const s of signals) process.on(s, onSignal)
  return {stopRequested, dispose: () => signals.forEach((s) => process.off(s, onSignal))}
}

/**
 * SIGHUP asks for a reload. It would kill the process by default: it is handled from the moment
 * this is called, and a SIGHUP that comes before `ready` (the daemon still starting) is replayed then.
 */
export function hangUpSignal(onHangUp: () => void): {ready(): void; dispose(): void} {
  let ready = false
  let asked = false
  const listener = (): void => {
    if (ready) onHangUp()
    else asked = true
  }
  process.on('SIGHUP', listener)
  return {
    ready() {
      ready = true
      if (asked) onHangUp()
    },
    dispose: () => void process.off('SIGHUP', listener),
  }
}

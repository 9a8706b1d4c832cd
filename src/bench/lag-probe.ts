/**
 * Loaded into the daemon by the scale benchmark only (`node --import …/lag-probe.js`): measures
 * the event-loop delay of the real daemon. SIGUSR2 writes the p99 and max since the last signal
 * (ms) to HPR_LAG_PROBE_FILE and starts a new measurement.
 */
import {writeFileSync} from 'node:fs'
import {monitorEventLoopDelay} from 'node:perf_hooks'

const file = process.env.HPR_LAG_PROBE_FILE
if (file) {
  const h = monitorEventLoopDelay({resolution: 5})
  h.enable()
  process.on('SIGUSR2', () => {
    writeFileSync(file, JSON.stringify({p99: h.percentile(99) / 1e6, max: h.max / 1e6, count: h.count}))
    h.reset()
  })
}

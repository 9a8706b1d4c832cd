/**
 * Loaded into the daemon by the scale benchmark only (`node --import …/lag-probe.js`): measures
 * the event-loop delay of the real daemon. The first SIGUSR2 starts a measurement, the next one
 * stops it and writes its p99 and max (ms) to HPR_LAG_PROBE_FILE; each writes that file. Off
 * between the two: its sampling timer (5 ms) would otherwise be most of an idle daemon's CPU.
 */
import {writeFileSync} from 'node:fs'
import {monitorEventLoopDelay} from 'node:perf_hooks'

const file = process.env.HPR_LAG_PROBE_FILE
if (file) {
  const h = monitorEventLoopDelay({resolution: 5})
  let on = false
  process.on('SIGUSR2', () => {
    if (on) {
      h.disable()
      writeFileSync(file, JSON.stringify({p99: h.percentile(99) / 1e6, max: h.max / 1e6, count: h.count}))
    } else {
      h.reset()
      h.enable()
      writeFileSync(file, JSON.stringify({started: true}))
    }
    on = !on
  })
}

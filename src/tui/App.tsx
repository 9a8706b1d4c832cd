import {Box, Text, useApp, useInput, useStdout} from 'ink'
import {useEffect, useState} from 'react'

import type {DispatcherSnapshot} from '../core/events.js'
import {EventsPanel} from './EventsPanel.js'
import {Gauges} from './Gauges.js'
import {Header} from './Header.js'
import {HelpOverlay} from './HelpOverlay.js'
import {JobDetails} from './JobDetails.js'
import {JobTable} from './JobTable.js'
import {sortedJobs, type TuiModel} from './tui-model.js'

/** What the TUI needs from the daemon: snapshots, the event model, and the operator's actions. */
export interface TuiSource {
  snapshot(): DispatcherSnapshot
  model: TuiModel
  paused(): boolean
  setPaused(paused: boolean): void
  /** First press: graceful shutdown; second press: force. */
  quit(): void
}

/**
 * Renders on key presses, on the daemon's activity (at most every `minGapMs`, checked every
 * `intervalMs`) and once a second for the clocks: never more than about 10 times a second.
 */
export function App({source, intervalMs = 100, minGapMs = 500}: {source: TuiSource; intervalMs?: number; minGapMs?: number}) {
  const [, setTick] = useState(0)
  const [keyVersion, setKeyVersion] = useState(0)
  const [selected, setSelected] = useState(0)
  const [details, setDetails] = useState(false)
  const [help, setHelp] = useState(false)
  const {stdout} = useStdout()
  useApp()
  useEffect(() => {
    // Keys re-render at once (state changes); the daemon's activity at most every `minGapMs`,
    // and the clocks once a second: a busy daemon must not spend its CPU drawing.
    let last = {version: -1, second: -1, at: 0}
    const t = setInterval(() => {
      const now = Date.now()
      const second = Math.floor(now / 1000)
      const changed = source.model.version !== last.version && now - last.at >= minGapMs
      if (!changed && second === last.second) return
      last = {version: source.model.version, second, at: now}
      setTick((x) => x + 1)
    }, intervalMs)
    return () => clearInterval(t)
  }, [intervalMs, minGapMs, source])
  void keyVersion
  const snapshot = source.snapshot()
  const jobs = sortedJobs(snapshot)
  const sel = Math.min(selected, Math.max(0, jobs.length - 1))
  useInput((input, key) => {
    if (input === 'q' || (key.ctrl && input === 'c')) source.quit()
    else if (input === 'p') {
      source.setPaused(!source.paused())
      setKeyVersion((v) => v + 1)
    }
    else if (input === '?') setHelp((h) => !h)
    else if (key.upArrow) setSelected(Math.max(0, sel - 1))
    else if (key.downArrow) setSelected(Math.min(jobs.length - 1, sel + 1))
    else if (key.return) setDetails((d) => !d)
    else if (key.escape) {
      setDetails(false)
      setHelp(false)
    }
  })
  const width = stdout?.columns ?? 100
  const height = stdout?.rows ?? 30
  const job = jobs[sel]
  return (
    <Box flexDirection="column" width={width}>
      <Header snapshot={snapshot} operatorPaused={source.paused()} />
      <Gauges snapshot={snapshot} width={width} />
      <Text> </Text>
      {help ? <HelpOverlay /> : null}
      {details && job ? <JobDetails job={job} timeline={source.model.timelines.get(`${job.runner}/${job.jobId}`) ?? []} logs={source.model.jobLogs.get(job.jobId) ?? []} /> : null}
      <JobTable snapshot={snapshot} selected={sel} width={width} maxRows={Math.max(3, height - 18)} />
      <Text> </Text>
      <EventsPanel events={source.model.events} history={source.model.history} rows={6} />
      <Text dimColor>q quit · p pause intake · ↑↓ select · Enter details · ? help</Text>
    </Box>
  )
}

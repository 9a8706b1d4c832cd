import {Box, Text, useApp, useInput, useStdout} from 'ink'
import {useEffect, useRef, useState} from 'react'

import type {DispatcherSnapshot} from '../core/events.js'
import {EventsPanel} from './EventsPanel.js'
import {Gauges} from './Gauges.js'
import {Header} from './Header.js'
import {HELP_HEIGHT, HelpOverlay} from './HelpOverlay.js'
import {JobDetails} from './JobDetails.js'
import {JobTable} from './JobTable.js'
import {fitLayout} from './layout.js'
import {jobKey, sortedJobs, type TuiModel} from './tui-model.js'

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
 * Everything fits the terminal (see `fitLayout`); the selection and the details box follow a
 * job, not a row, while the table re-sorts.
 */
export function App({
  source,
  intervalMs = 100,
  minGapMs = 500,
  size,
}: {
  source: TuiSource
  intervalMs?: number
  minGapMs?: number
  /** The terminal's size, when not the stdout's (tests). */ size?: {columns: number; rows: number}
}) {
  const [, setTick] = useState(0)
  const [keyVersion, setKeyVersion] = useState(0)
  const [selectedKey, setSelectedKey] = useState<string | undefined>()
  const [detailsKey, setDetailsKey] = useState<string | undefined>()
  const [help, setHelp] = useState(false)
  const lastIndex = useRef(0)
  // Keys may come faster than renders: they read and move the selection through refs, never
  // through the values of a render that may already be stale.
  const selectedRef = useRef<string | undefined>(undefined)
  const jobsRef = useRef<DispatcherSnapshot['jobs']>([])
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
  // The selected job wherever it went; when it is gone, its neighbour.
  let sel = selectedKey === undefined ? -1 : jobs.findIndex((j) => jobKey(j) === selectedKey)
  if (sel < 0) sel = Math.max(0, Math.min(lastIndex.current, jobs.length - 1))
  lastIndex.current = sel
  const selected = jobs[sel]
  jobsRef.current = jobs
  selectedRef.current = selected ? jobKey(selected) : undefined
  const move = (by: number): void => {
    const list = jobsRef.current
    if (list.length === 0) return
    const at = Math.max(
      0,
      list.findIndex((j) => jobKey(j) === selectedRef.current),
    )
    const next = jobKey(list[Math.max(0, Math.min(list.length - 1, at + by))]!)
    selectedRef.current = next
    setSelectedKey(next)
  }
  useInput((input, key) => {
    if (input === 'q' || (key.ctrl && input === 'c')) source.quit()
    else if (input === 'p') {
      source.setPaused(!source.paused())
      setKeyVersion((v) => v + 1)
    } else if (input === '?') setHelp((h) => !h)
    else if (key.upArrow) move(-1)
    else if (key.downArrow) move(1)
    else if (key.return) setDetailsKey((d) => (d === undefined ? selectedRef.current : undefined))
    else if (key.escape) {
      setDetailsKey(undefined)
      setHelp(false)
    }
  })
  const width = size?.columns ?? stdout?.columns ?? 100
  const height = size?.rows ?? stdout?.rows ?? 30
  const names = new Map(snapshot.runners.map((r) => [r.runner, r.name ?? r.runner]))
  const detailed = detailsKey === undefined ? undefined : jobs.find((j) => jobKey(j) === detailsKey)
  const timeline = detailsKey === undefined ? [] : (source.model.timelines.get(detailsKey) ?? [])
  const logs = detailsKey === undefined ? [] : (source.model.jobLogs.get(Number(detailsKey.split('/')[1])) ?? [])
  const layout = fitLayout({
    rows: height,
    runners: snapshot.runners.length,
    jobs: jobs.length,
    events: source.model.events.length,
    history: source.model.history.length > 0,
    ...(help ? {help: HELP_HEIGHT} : {}),
    ...(detailsKey === undefined
      ? {}
      : {details: {fixed: 4 + (detailed?.failure ? 1 : 0), timeline: timeline.length, logs: logs.length}}),
  })
  return (
    <Box flexDirection="column" width={width}>
      <Header snapshot={snapshot} operatorPaused={source.paused()} lines={layout.runnerLines} />
      {layout.gauges ? <Gauges snapshot={snapshot} width={width} /> : null}
      {layout.spacers ? <Text> </Text> : null}
      {layout.help ? <HelpOverlay /> : null}
      {layout.details && detailsKey !== undefined ? (
        <JobDetails
          jobKey={detailsKey}
          job={detailed}
          runnerName={names.get(detailsKey.split('/')[0]!) ?? null}
          outcome={source.model.outcomeOf(detailsKey)}
          timeline={layout.details.timeline ? timeline.slice(-layout.details.timeline) : []}
          logs={layout.details.logs ? logs.slice(-layout.details.logs) : []}
        />
      ) : null}
      <JobTable
        snapshot={snapshot}
        jobs={jobs}
        selected={sel}
        width={width}
        maxRows={layout.tableRows}
        more={layout.more}
      />
      {layout.spacers ? <Text> </Text> : null}
      {layout.events ? (
        <EventsPanel
          events={source.model.events}
          history={source.model.history}
          rows={layout.eventRows}
          showHistory={layout.history}
          names={names}
        />
      ) : null}
      <Text dimColor wrap="truncate-end">
        q quit · p pause intake · ↑↓ select · Enter details · ? help
      </Text>
    </Box>
  )
}

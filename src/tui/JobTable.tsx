import {Box, Text} from 'ink'

import type {DispatcherSnapshot} from '../core/events.js'
import {duration, jobKey, PHASE_LABEL, sortedJobs} from './tui-model.js'

const PHASE_COLOR: Record<string, string> = {
  running: 'green',
  reporting: 'red',
  decommissioning: 'gray',
  finished: 'gray',
}

/**
 * The live jobs (sorted by phase), at most `maxRows` of them around the selection, and a
 * "… N more" line when `more`; compact below 80 columns.
 */
export function JobTable({
  snapshot: s,
  jobs = sortedJobs(s),
  selected,
  width,
  maxRows,
  more = true,
}: {
  snapshot: DispatcherSnapshot
  jobs?: DispatcherSnapshot['jobs']
  selected: number
  width: number
  maxRows: number
  more?: boolean
}) {
  const wide = width >= 80
  if (jobs.length === 0) return <Text dimColor>no job: waiting for work</Text>
  const start = Math.max(0, Math.min(selected - Math.floor(maxRows / 2), jobs.length - maxRows))
  const shown = jobs.slice(start, start + maxRows)
  const head = wide
    ? `${'JOB'.padEnd(9)}${'RUNNER'.padEnd(10)}${'PROJECT'.padEnd(12)}${'FLAVOR'.padEnd(7)}${'WEIGHT'.padStart(6)}  ${'PHASE'.padEnd(16)}${'IN PHASE'.padEnd(9)}RESOURCE`
    : `${'JOB'.padEnd(8)}${'FLV'.padEnd(5)}${'PHASE'.padEnd(16)}TIME`
  return (
    <Box flexDirection="column">
      <Text bold wrap="truncate-end">
        {head}
      </Text>
      {shown.map((j, i) => {
        const idx = start + i
        const phase = PHASE_LABEL[j.phase] ?? j.phase
        const line = wide
          ? `${String(j.jobId).padEnd(9)}${(j.runnerName ?? j.runner).slice(0, 9).padEnd(10)}${(j.projectName ?? String(j.projectId ?? '-')).slice(0, 11).padEnd(12)}${(j.flavor ?? '-').padEnd(7)}${j.weight.toFixed(1).padStart(6)}  ${phase.padEnd(16)}${duration(s.at - j.phaseSince).padEnd(9)}${(j.resourceId ?? '-').slice(0, Math.max(8, width - 80))}`
          : `${String(j.jobId).padEnd(8)}${(j.flavor ?? '-').slice(0, 4).padEnd(5)}${phase.padEnd(16)}${duration(s.at - j.phaseSince)}`
        return (
          <Text key={jobKey(j)} inverse={idx === selected} color={PHASE_COLOR[j.phase]} wrap="truncate-end">
            {line}
          </Text>
        )
      })}
      {more && jobs.length > shown.length ? <Text dimColor>… {jobs.length - shown.length} more (↑↓)</Text> : null}
    </Box>
  )
}

import {Box, Text} from 'ink'

import type {EventLine, HistoryLine} from './tui-model.js'

/** Latest warnings and errors, and the jobs that just left. */
export function EventsPanel({events, history, rows}: {events: readonly EventLine[]; history: readonly HistoryLine[]; rows: number}) {
  const recent = events.slice(-rows)
  const done = history.slice(-3)
  return (
    <Box flexDirection="column">
      <Text bold>events</Text>
      {recent.length === 0 ? <Text dimColor>nothing to report</Text> : null}
      {recent.map((e, i) => (
        <Text key={`${e.at}-${i}`} color={e.level === 'error' ? 'red' : e.level === 'warn' ? 'yellow' : undefined} wrap="truncate-end">
          {new Date(e.at).toISOString().slice(11, 19)} {e.text}
        </Text>
      ))}
      {done.length > 0 ? <Text dimColor wrap="truncate-end">recently done: {done.map((h) => `${h.jobId} ${h.outcome}`).join(' · ')}</Text> : null}
    </Box>
  )
}

import {Box, Text} from 'ink'

import type {EventLine, HistoryLine} from './tui-model.js'

/**
 * The latest warnings and errors (a repeated one once, with its count), runners named as the
 * table names them, and the jobs that just left.
 */
export function EventsPanel({
  events,
  history,
  rows,
  showHistory = true,
  names = new Map(),
}: {
  events: readonly EventLine[]
  history: readonly HistoryLine[]
  rows: number
  showHistory?: boolean
  names?: ReadonlyMap<string, string>
}) {
  const recent = rows > 0 ? events.slice(-rows) : []
  const done = history.slice(-3)
  return (
    <Box flexDirection="column">
      <Text bold>events</Text>
      {recent.length === 0 ? <Text dimColor>nothing to report</Text> : null}
      {recent.map((e) => (
        <Text
          key={e.key}
          color={e.level === 'error' ? 'red' : e.level === 'warn' ? 'yellow' : undefined}
          wrap="truncate-end"
        >
          {new Date(e.at).toISOString().slice(11, 19)}{' '}
          {e.runner === undefined ? '' : `${names.get(e.runner) ?? e.runner}: `}
          {e.text}
          {e.count > 1 ? ` (×${e.count})` : ''}
        </Text>
      ))}
      {showHistory && done.length > 0 ? (
        <Text dimColor wrap="truncate-end">
          recently done: {done.map((h) => `${h.jobId} ${h.outcome}`).join(' · ')}
        </Text>
      ) : null}
    </Box>
  )
}

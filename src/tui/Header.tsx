import {Box, Text} from 'ink'

import type {DispatcherSnapshot, IntakeState} from '../core/events.js'
import {duration} from './tui-model.js'

function intakeText(i: IntakeState, now: number): {text: string; color: string} {
  switch (i.state) {
    case 'paused':
      return {text: `paused: ${i.reason}`, color: 'yellow'}
    case 'backoff':
      return {text: `backing off (${i.reason}); next try in ${duration(i.until - now)}`, color: 'red'}
    case 'stopped':
      return {text: `stopped: ${i.reason}`, color: 'gray'}
    case 'long-polling':
      return {text: 'long-polling', color: 'green'}
    default:
      return {text: i.state, color: 'green'}
  }
}

/** Coordinators and their intake state (in `lines` lines at most), uptime, totals. */
export function Header({
  snapshot: s,
  operatorPaused,
  lines = s.runners.length,
}: {
  snapshot: DispatcherSnapshot
  operatorPaused: boolean
  lines?: number
}) {
  const t = s.totals
  const cut = lines < s.runners.length
  const shown = s.runners.slice(0, cut ? Math.max(0, lines - 1) : lines)
  return (
    <Box flexDirection="column">
      <Text wrap="truncate-end">
        <Text bold>heptapod-paas-runner</Text>
        <Text>
          {' '}
          up {duration(s.at - s.startedAt)} · launched {t.launched} · finished {t.finished} · failed {t.launchFailed}
        </Text>
        {operatorPaused ? <Text color="yellow"> · INTAKE PAUSED (p to resume)</Text> : null}
        {s.stopping ? <Text color="red"> · STOPPING</Text> : null}
      </Text>
      {shown.map((r) => {
        const i = intakeText(r.intake, s.at)
        return (
          <Text key={r.runner} wrap="truncate-end">
            {'  '}
            {r.name ?? r.runner} <Text dimColor>{r.url}</Text> <Text color={i.color}>{i.text}</Text>
          </Text>
        )
      })}
      {cut && lines > 0 ? (
        <Text dimColor>
          {'  … '}
          {s.runners.length - shown.length} more coordinator(s): see `status`
        </Text>
      ) : null}
    </Box>
  )
}

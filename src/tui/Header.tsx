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

/** Coordinators and their intake state, uptime, totals. */
export function Header({snapshot: s, operatorPaused}: {snapshot: DispatcherSnapshot; operatorPaused: boolean}) {
  const t = s.totals
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>heptapod-paas-runner</Text>
        <Text> up {duration(s.at - s.startedAt)} · launched {t.launched} · finished {t.finished} · failed {t.launchFailed}</Text>
        {operatorPaused ? <Text color="yellow"> · INTAKE PAUSED (p to resume)</Text> : null}
        {s.stopping ? <Text color="red"> · STOPPING</Text> : null}
      </Text>
      {s.runners.map((r) => {
        const i = intakeText(r.intake, s.at)
        return (
          <Text key={r.runner} wrap="truncate-end">
            {'  '}
            {r.name ?? r.runner} <Text dimColor>{r.url}</Text> <Text color={i.color}>{i.text}</Text>
          </Text>
        )
      })}
    </Box>
  )
}

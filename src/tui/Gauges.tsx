import {Box, Text} from 'ink'

import type {DispatcherSnapshot} from '../core/events.js'
import {bar, flavorSplit} from './tui-model.js'

/** Weighted quota (with its split by flavor), jobs against concurrent, provisioning slots; one line each, never wrapped. */
export function Gauges({snapshot: s, width}: {snapshot: DispatcherSnapshot; width: number}) {
  const w = Math.max(10, Math.min(30, width - 60))
  const q = s.quota
  const total = q.total === null ? '?' : q.total.toFixed(1)
  return (
    <Box flexDirection="column">
      <Text wrap="truncate-end">
        {'quota        '}
        {bar(q.used + q.reserved, q.total, w)} {q.used.toFixed(1)}/{total}
        {q.reserved > 0 ? <Text dimColor> (+{q.reserved.toFixed(1)} reserved)</Text> : null}
        {s.jobs.length > 0 ? (
          <Text dimColor>
            {'  '}
            {flavorSplit(s)}
          </Text>
        ) : null}
      </Text>
      <Text wrap="truncate-end">
        {'jobs         '}
        {bar(s.concurrent.used, s.concurrent.limit, w)} {s.concurrent.used}/{s.concurrent.limit}
      </Text>
      <Text wrap="truncate-end">
        provisioning {bar(s.provisioning.used, s.provisioning.limit, w)} {s.provisioning.used}/{s.provisioning.limit}
        {s.pendingDeletions > 0 ? (
          <Text color="yellow">
            {'  '}
            {s.pendingDeletions} deletion(s) pending retry
          </Text>
        ) : null}
      </Text>
    </Box>
  )
}

import {Box, Text} from 'ink'

import type {JobSnapshot} from '../core/events.js'
import {PHASE_LABEL} from './tui-model.js'

/** One job: its timeline, resource and failure. Never a token. */
export function JobDetails({job, timeline, logs = []}: {job: JobSnapshot; timeline: ReadonlyArray<{at: number; phase: string}>; logs?: readonly string[]}) {
  return (
    <Box flexDirection="column" borderStyle="round" paddingX={1}>
      <Text bold>
        job {job.jobId} · runner {job.runnerName ?? job.runner} · project {job.projectName ?? job.projectId ?? '-'}
      </Text>
      <Text>
        flavor {job.flavor ?? '-'} · weight {job.weight.toFixed(2)} · resource {job.resourceId ?? 'none yet'}
        {job.deleteAttempts > 0 ? ` · delete attempts ${job.deleteAttempts}` : ''}
      </Text>
      {job.failure ? <Text color="red">failure: {job.failure}</Text> : null}
      {timeline.map((t, i) => (
        <Text key={i} dimColor>
          {new Date(t.at).toISOString().slice(11, 23)} {PHASE_LABEL[t.phase] ?? t.phase}
        </Text>
      ))}
      {logs.length > 0 ? <Text bold>last log lines</Text> : null}
      {logs.map((l, i) => (
        <Text key={`l${i}`} wrap="truncate-end">
          {l}
        </Text>
      ))}
    </Box>
  )
}

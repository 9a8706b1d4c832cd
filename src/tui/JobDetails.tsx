import {Box, Text} from 'ink'

import type {JobSnapshot} from '../core/events.js'
import {PHASE_LABEL} from './tui-model.js'

/**
 * One job: its timeline, resource and failure; never a token. It follows the job (`jobKey`):
 * once the job is over and gone from the table, it says how it ended.
 */
export function JobDetails({
  jobKey,
  job,
  runnerName,
  outcome,
  timeline,
  logs = [],
}: {
  jobKey: string
  job: JobSnapshot | undefined
  runnerName: string | null
  outcome: string | undefined
  timeline: ReadonlyArray<{at: number; phase: string}>
  logs?: readonly string[]
}) {
  const [runner, id] = jobKey.split('/')
  return (
    <Box flexDirection="column" borderStyle="round" paddingX={1}>
      <Text bold wrap="truncate-end">
        job {id} · runner {runnerName ?? runner} · project {job ? (job.projectName ?? job.projectId ?? '-') : '-'}
      </Text>
      {job ? (
        <Text wrap="truncate-end">
          flavor {job.flavor ?? '-'} · weight {job.weight.toFixed(2)} · resource {job.resourceId ?? 'none yet'}
          {job.deleteAttempts > 0 ? ` · delete attempts ${job.deleteAttempts}` : ''}
        </Text>
      ) : (
        <Text wrap="truncate-end">over{outcome ? `: ${outcome}` : ''}; its resource is gone</Text>
      )}
      {job?.failure ? (
        <Text color="red" wrap="truncate-end">
          failure: {job.failure}
        </Text>
      ) : null}
      {timeline.map((t, i) => (
        <Text key={i} dimColor wrap="truncate-end">
          {new Date(t.at).toISOString().slice(11, 23)} {t.phase === 'gone' ? 'gone' : (PHASE_LABEL[t.phase] ?? t.phase)}
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

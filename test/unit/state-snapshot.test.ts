import {describe, expect, it} from 'vitest'

import {parseConfig} from '../../src/core/config/parse-config.js'
import {jobSnapshot, snapshotFromState} from '../../src/core/dispatcher/state-snapshot.js'
import type {JobRecord} from '../../src/core/state/job-record.js'
import {StateStore} from '../../src/core/state/state-store.js'
import {testExecutors} from '../helpers/executors.js'
import {MemoryStateFile} from '../helpers/memory-state-file.js'

const config = parseConfig(
  `concurrent = 7
paas_max_concurrent_provisioning = 3
[quota_computation]
  reference_runner = "r0"
  reference_flavor = "M"
  reference_jobs_count = 2
[[runners]]
  name = "r0"
  url = "https://gitlab.example"
  token = "tok0abcd-runner-secret"
  executor = "memory"
`,
  {file: 's.toml', executors: testExecutors, defaultStateFile: '/virtual/state'},
)

const rec = (jobId: number, phase: JobRecord['phase'], more: Partial<JobRecord> = {}): JobRecord => ({
  runner: 'tok0abcd',
  jobId,
  jobToken: `glcbt-${jobId}-secret`,
  phase,
  weight: 2.5,
  expectedWeight: 2.5,
  traceOffset: 0,
  acquiredAt: 100,
  phaseSince: 200 + jobId,
  ...more,
})

describe('the status snapshot built from the state file alone', () => {
  it('counts jobs, weight, provisioning and pending deletions; lists failures; no token', async () => {
    const {store} = await StateStore.open(new MemoryStateFile(), {now: () => 1})
    await store.put(rec(12, 'running', {flavor: 'S', projectId: 42, projectName: 'widgets', resourceId: 'mem_1'}))
    await store.put(rec(11, 'provisioning'))
    await store.put(rec(13, 'decommissioning', {deleteAttempts: 2, resourceId: 'mem_3'}))
    await store.put(rec(14, 'decommissioning', {resourceId: 'mem_4'}))
    await store.put(rec(15, 'reporting', {failure: 'could not create the PAAS resource: 503'}))
    const s = snapshotFromState(config, store, 5000, 'no daemon answers')
    expect(s.jobs.map((j) => j.jobId)).toEqual([11, 12, 13, 14, 15])
    expect(s.quota).toEqual({total: null, explanation: null, used: 12.5, reserved: 0})
    expect(s.concurrent).toEqual({limit: 7, used: 5})
    expect(s.provisioning).toEqual({limit: 3, used: 1})
    expect(s.pendingDeletions).toBe(1)
    expect(s.recentFailures).toEqual([
      {runner: 'tok0abcd', jobId: 15, reason: 'could not create the PAAS resource: 503', at: 215},
    ])
    expect(s.runners).toEqual([
      {
        runner: 'tok0abcd',
        name: 'r0',
        url: 'https://gitlab.example',
        executor: 'memory',
        intake: {state: 'stopped', reason: 'no daemon answers'},
        minRequestableWeight: null,
      },
    ])
    expect(s.jobs[1]).toEqual({
      runner: 'tok0abcd',
      runnerName: 'r0',
      jobId: 12,
      projectId: 42,
      projectName: 'widgets',
      phase: 'running',
      flavor: 'S',
      weight: 2.5,
      acquiredAt: 100,
      phaseSince: 212,
      resourceId: 'mem_1',
      deleteAttempts: 0,
      failure: null,
    })
    expect(s.jobs[0]).toMatchObject({projectId: null, projectName: null, flavor: null, resourceId: null, failure: null})
    expect(JSON.stringify(s)).not.toContain('secret')
  })

  it('a job snapshot passes its failure through the redactor given', () => {
    expect(
      jobSnapshot(rec(1, 'reporting', {failure: 'token glcbt-1-secret refused'}), null, (t) =>
        t.replace('glcbt-1-secret', '[REDACTED]'),
      ).failure,
    ).toBe('token [REDACTED] refused')
  })
})

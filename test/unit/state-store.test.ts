import {mkdtempSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {FsStateFile} from '../../src/adapters/state/fs-state-file.js'
import type {JobRecord} from '../../src/core/state/job-record.js'
import {StateCorruptError, StateStore} from '../../src/core/state/state-store.js'
import {MemoryStateFile} from '../helpers/memory-state-file.js'

const now = () => 1_000
const rec = (jobId: number, phase: JobRecord['phase'] = 'running'): JobRecord => ({
  runner: 'tok0abcd',
  jobId,
  jobToken: `glcbt-${jobId}`,
  phase,
  weight: 5.657,
  expectedWeight: 5.657,
  traceOffset: 0,
  acquiredAt: 1,
  phaseSince: 1,
})

describe('StateStore', () => {
  it('replays puts and deletes after a restart', async () => {
    const f = new MemoryStateFile()
    const {store} = await StateStore.open(f, {now})
    await store.put(rec(1))
    await store.put(rec(2, 'provisioning'))
    await store.transition(rec(2, 'provisioning'), 'provisioned', {resourceId: 'app_2'})
    await store.delete('tok0abcd', 1)
    await store.setSystemId('r_0123456789ab')
    const {store: again, report} = await StateStore.open(new MemoryStateFile(f.content), {now})
    expect([...again.records.keys()]).toEqual(['tok0abcd/2'])
    expect(again.records.get('tok0abcd/2')).toMatchObject({phase: 'provisioned', resourceId: 'app_2'})
    expect(again.systemId).toBe('r_0123456789ab')
    expect(report).toMatchObject({fresh: false, tornTail: false})
  })

  it('ignores a last line torn by a crash', async () => {
    const f = new MemoryStateFile()
    const {store} = await StateStore.open(f, {now})
    await store.put(rec(1))
    const torn = `${f.content}{"t":"put","r":{"runner":"tok0ab`
    const {store: again, report} = await StateStore.open(new MemoryStateFile(torn), {now})
    expect([...again.records.keys()]).toEqual(['tok0abcd/1'])
    expect(report.tornTail).toBe(true)
    expect(report.warnings).toEqual([
      expect.stringMatching(/^\/virtual\/state\.jsonl:3: cut 32 bytes of a change that was never confirmed/),
    ])
  })

  it('refuses a corrupt file and never overwrites it', async () => {
    for (const bad of [
      '{"t":"header","format":"heptapod-paas-runner-state","version":1}\nnot json\n{"t":"del","k":"x"}\n',
      'garbage',
      '{"some": "json"}',
      '{"t":"header","format":"heptapod-paas-runner-state","version":99}\n',
    ]) {
      const f = new MemoryStateFile(bad)
      const err = await StateStore.open(f, {now}).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(StateCorruptError)
      expect((err as Error).message).toMatch(/corrupt state file: .*will not overwrite it/)
      expect(f.content).toBe(bad)
    }
  })

  it('names the line of an invalid entry, which is an error of that entry only', async () => {
    const {report} = await StateStore.open(
      new MemoryStateFile(
        '{"t":"header","format":"heptapod-paas-runner-state","version":1}\n{"t":"put","r":{}}\n{"t":"del","k":"x"}\n',
      ),
      {now},
    )
    expect(report.errors).toEqual([
      expect.stringMatching(
        /^\/virtual\/state\.jsonl:2: an entry is not valid \(r\.runner: .*\); it is kept in the file as it is and ignored/,
      ),
    ])
  })

  it("names the line of a line that is not JSON, refuses a header of another format, and arrays or shapes that are not the original's", async () => {
    const header = '{"t":"header","format":"heptapod-paas-runner-state","version":1}\n'
    const notJson = (await StateStore.open(
      new MemoryStateFile(`${header}{"t":"del","k":"x"}\nnot json\n{"t":"del","k":"y"}\n`),
      {now},
    ).catch((e: unknown) => e)) as Error
    expect(notJson.message).toContain('/virtual/state.jsonl:3: corrupt state file: a line is not JSON')
    const other = (await StateStore.open(
      new MemoryStateFile('{"t":"header","format":"something-else","version":1}\n'),
      {now},
    ).catch((e: unknown) => e)) as Error
    expect(other.message).toContain('/virtual/state.jsonl:1: corrupt state file: missing header')
    for (const bad of [
      '[]',
      '{"launched": "nope"}',
      '{"launched": [{"runner_name": "x", "job_id": 1}]}',
      '{"pending": [[{"runner_name": "x", "job_id": 1, "token": "t"}]]}',
      '{"to_decommission": [null]}',
    ]) {
      await expect(StateStore.open(new MemoryStateFile(bad), {now}), bad).rejects.toBeInstanceOf(StateCorruptError)
    }
  })

  it('orphan marks, kept resources and the system id survive restarts and compactions', async () => {
    const f = new MemoryStateFile()
    const {store} = await StateStore.open(f, {now})
    await store.setSystemId('r_0123456789ab')
    await store.markOrphan({
      runner: 'tok0abcd',
      resourceId: 'app_1',
      name: 'hpd-job-tok0abcd-1',
      jobId: 1,
      firstSeenAt: 5,
      resource: {id: 'app_1'},
    })
    await store.markOrphan({
      runner: 'tok0abcd',
      resourceId: 'app_2',
      name: 'hpd-job-tok0abcd-2',
      firstSeenAt: 6,
      resource: {id: 'app_2'},
    })
    await store.unmarkOrphan('tok0abcd', 'app_2')
    await store.keep({
      runner: 'tok0abcd',
      resourceId: 'app_3',
      name: 'hpd-job-tok0abcd-3',
      jobId: 3,
      reason: 'kept for inspection',
      at: 7,
    })
    // Twice: the first reopening replays the journal and compacts it, the second reads the compacted file.
    let file = f
    for (let i = 0; i < 2; i++) {
      const next = new MemoryStateFile(file.durable)
      const {store: again} = await StateStore.open(next, {now})
      file = next
      expect(again.systemId).toBe('r_0123456789ab')
      expect([...again.orphans.values()]).toEqual([
        {
          runner: 'tok0abcd',
          resourceId: 'app_1',
          name: 'hpd-job-tok0abcd-1',
          jobId: 1,
          firstSeenAt: 5,
          resource: {id: 'app_1'},
        },
      ])
      expect([...again.kept.values()]).toEqual([
        {
          runner: 'tok0abcd',
          resourceId: 'app_3',
          name: 'hpd-job-tok0abcd-3',
          jobId: 3,
          reason: 'kept for inspection',
          at: 7,
        },
      ])
    }
  })

  it('a closed store refuses commits', async () => {
    const {store} = await StateStore.open(new MemoryStateFile(), {now})
    await store.close()
    await expect(store.put(rec(1))).rejects.toThrow('state store is closed')
  })

  it('imports a state file of the original (launched / pending / to_decommission), keeping a copy', async () => {
    const legacy = {
      launched: [
        {
          runner_name: 'D3adNQYu',
          job_id: 11,
          token: 'tok11',
          trace_offset: 0,
          expected_weight: 13.45,
          paas_resource: {
            id: 'app_11',
            gitlab_namespace: null,
            weight: 13.45,
            launched: true,
            deploy_url: 'https://push/app_11.git',
          },
        },
      ],
      to_decommission: [
        {
          runner_name: 'D3adNQYu',
          job_id: 12,
          token: 'tok12',
          paas_resource: {id: 'app_12', weight: 5.6, launched: true},
        },
      ],
      pending: [
        [
          {runner_name: 'D3adNQYu', job_id: 13, token: 'tok13', expected_weight: 2.4},
          {id: 13, token: 'tok13', job_info: {project_id: 42}, variables: []},
        ],
      ],
    }
    const f = new MemoryStateFile(JSON.stringify(legacy))
    const {store, report} = await StateStore.open(f, {now})
    expect(report.importedFrom).toBe('/virtual/state.jsonl.imported-from-0.6.3')
    expect(f.backups.get(report.importedFrom!)).toBe(JSON.stringify(legacy))
    expect(store.records.get('D3adNQYu/11')).toMatchObject({
      phase: 'running',
      resourceId: 'app_11',
      weight: 13.45,
      jobToken: 'tok11',
    })
    expect(store.records.get('D3adNQYu/12')).toMatchObject({phase: 'finished', resourceId: 'app_12'})
    expect(store.records.get('D3adNQYu/13')).toMatchObject({
      phase: 'acquired',
      weight: 2.4,
      projectId: 42,
      payload: {id: 13},
    })
    // Written back in our format at once.
    expect(f.content!.startsWith('{"t":"header"')).toBe(true)
  })

  it('a commit resolves only once its line is synced, never on the write alone', async () => {
    const f = new MemoryStateFile()
    const {store} = await StateStore.open(f, {now})
    f.holdSyncs = true
    let resolved = false
    const put = store.put(rec(1)).then(() => (resolved = true))
    await new Promise((r) => setImmediate(r))
    await new Promise((r) => setImmediate(r))
    expect(f.content).toContain('"jobId":1') // written…
    expect(f.heldSyncs).toBe(1) // …its sync pending…
    expect(resolved).toBe(false) // …so not committed yet
    expect(f.durable).not.toContain('"jobId":1')
    f.releaseSyncs()
    await put
    expect(f.durable).toContain('"jobId":1')
  })

  it('a failed write rejects its commits; the next ones go through', async () => {
    const f = new MemoryStateFile()
    const {store} = await StateStore.open(f, {now})
    f.failNextWrites = 1
    await expect(store.put(rec(1))).rejects.toThrow('EIO: simulated write failure')
    await store.put(rec(2))
    const {store: again} = await StateStore.open(new MemoryStateFile(f.durable), {now})
    expect([...again.records.keys()]).toEqual(['tok0abcd/2'])
  })

  it('shares one write among concurrent commits, and compacts a long journal', async () => {
    const f = new MemoryStateFile()
    const {store} = await StateStore.open(f, {now})
    await Promise.all(Array.from({length: 50}, (_, i) => store.put(rec(i))))
    expect(f.appends).toBeLessThan(5)
    for (let i = 0; i < 6000; i++) await store.put(rec(1, i % 2 ? 'running' : 'launched'))
    expect(f.content!.split('\n').length).toBeLessThan(5200)
    const {store: again} = await StateStore.open(new MemoryStateFile(f.content), {now})
    expect(again.records.size).toBe(50)
  })

  it('on disk: mode 0600, and readable by another reader while open', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpr-state-'))
    const path = join(dir, 'state.json')
    const {store} = await StateStore.open(new FsStateFile(path), {now})
    await store.put(rec(1))
    expect(statSync(path).mode & 0o777).toBe(0o600)
    expect(readFileSync(path, 'utf8')).toContain('"jobId":1')
    await store.close()
    writeFileSync(path, readFileSync(path, 'utf8') + '{"t":"del","k":"tok0abcd/1"}\n')
    const {store: again} = await StateStore.open(new FsStateFile(path), {now})
    expect(again.records.size).toBe(0)
    expect(statSync(path).mode & 0o777).toBe(0o600)
  })
})

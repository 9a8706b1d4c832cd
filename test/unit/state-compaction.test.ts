import {mkdtempSync, readFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {FsStateFile} from '../../src/adapters/state/fs-state-file.js'
import type {JobPayload} from '../../src/core/job-payload.js'
import type {JobRecord} from '../../src/core/state/job-record.js'
import {StateStore} from '../../src/core/state/state-store.js'
import {MemoryStateFile} from '../helpers/memory-state-file.js'

const now = () => 1_000
const rec = (jobId: number, phase: JobRecord['phase'] = 'running', extra: Partial<JobRecord> = {}): JobRecord => ({
  runner: 'tok0abcd',
  jobId,
  jobToken: `glcbt-${jobId}`,
  phase,
  weight: 5.657,
  expectedWeight: 5.657,
  traceOffset: 0,
  acquiredAt: 1,
  phaseSince: 1,
  ...extra,
})
const payload = (id: number): JobPayload =>
  ({id, token: `glcbt-${id}`, variables: [{key: 'CI_JOB_ID', value: String(id)}]}) as unknown as JobPayload

/** Appends until the store rewrites its file once. */
async function compactOnce(store: StateStore): Promise<void> {
  const before = store.compactions
  for (let i = 0; store.compactions === before; i++) {
    if (i > 20_000) throw new Error('no compaction')
    await store.put(rec(999, 'running', {traceOffset: i}))
  }
}

/** The entries of a journal, header aside. */
const entries = (text: string): unknown[] =>
  text
    .split('\n')
    .filter(Boolean)
    .slice(1)
    .map((l) => JSON.parse(l) as unknown)

describe('StateStore compaction', () => {
  it('writes every record as it is now (reusing the lines its last commit wrote), each payload once, and reads back the same', async () => {
    // A record with a payload that comes from the file, not from a commit of this run.
    const first = new MemoryStateFile()
    const {store: earlier} = await StateStore.open(first, {now})
    await earlier.put(rec(7, 'provisioning', {payload: payload(7)}))
    const f = new MemoryStateFile(first.content)
    const {store} = await StateStore.open(f, {now})

    const p1 = payload(1)
    await store.put(rec(1, 'acquired', {payload: p1}))
    await store.transition(rec(1, 'acquired', {payload: p1}), 'provisioning', {resourceId: 'app_1'}) // same payload: not written again
    await store.put(rec(2, 'launching', {payload: payload(2)}))
    await store.put(rec(2, 'running', {resourceId: 'app_2'})) // payload dropped once launched
    await store.put(rec(3))
    await store.delete('tok0abcd', 3)
    await store.transition(store.records.get('tok0abcd/7')!, 'provisioned', {resourceId: 'app_7'})

    await compactOnce(store)
    const written = entries(f.content!)
    // What a full serialisation of the records held now gives, in order.
    const expected: unknown[] = []
    for (const [k, r] of store.records) {
      const {payload: p, ...rest} = r
      if (p) expected.push({t: 'payload', k, p})
      expected.push({t: 'put', r: p ? {...rest, hasPayload: true} : rest})
    }
    expect(written).toEqual(expected)
    expect(written.filter((e) => (e as {t: string}).t === 'payload')).toHaveLength(2)

    const {store: again} = await StateStore.open(new MemoryStateFile(f.content), {now})
    expect([...again.records.entries()]).toEqual([...store.records.entries()])
    expect(again.records.get('tok0abcd/1')!.payload).toEqual(p1)
    expect(again.records.get('tok0abcd/7')).toMatchObject({phase: 'provisioned', payload: payload(7)})
    expect(again.records.get('tok0abcd/2')!.payload).toBeUndefined()
  })

  it('after a compaction, a record keeps its payload through later changes', async () => {
    const f = new MemoryStateFile()
    const {store} = await StateStore.open(f, {now})
    const p = payload(5)
    await store.put(rec(5, 'acquired', {payload: p}))
    await compactOnce(store)
    await store.transition(store.records.get('tok0abcd/5')!, 'provisioning')
    await compactOnce(store)
    const {store: again} = await StateStore.open(new MemoryStateFile(f.content), {now})
    expect(again.records.get('tok0abcd/5')).toMatchObject({phase: 'provisioning', payload: p})
  })
})

describe('FsStateFile.replace', () => {
  it('writes the parts in order, across write chunks and multi-byte characters', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpr-replace-'))
    const file = new FsStateFile(join(dir, 'state.json'))
    // ~1.2 MB in parts that straddle the 256 Ki-character chunks; the last part is small.
    const parts = Array.from({length: 3001}, (_, i) => `{"n":${i},"s":"${'é€'.repeat(i % 300)}"}\n`)
    await file.replace(parts)
    expect(readFileSync(join(dir, 'state.json'), 'utf8')).toBe(parts.join(''))
    await file.replace(['a\n'])
    expect(readFileSync(join(dir, 'state.json'), 'utf8')).toBe('a\n')
  })
})

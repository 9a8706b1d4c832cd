import {lstatSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {FsStateFile, type StateFileIo} from '../../src/adapters/state/fs-state-file.js'
import type {JobRecord} from '../../src/core/state/job-record.js'
import {StateCorruptError, StateStore} from '../../src/core/state/state-store.js'
import {MemoryStateFile} from '../helpers/memory-state-file.js'

/** Issue 12, items 4, 8, 9 and 10: the journal survives a full disk, refuses nothing it can read, stores a payload once. */

const now = () => 1_000
const HEADER = '{"t":"header","format":"heptapod-paas-runner-state","version":1}\n'
const rec = (jobId: number, o: Partial<JobRecord> = {}): JobRecord => ({
  runner: 'tok0abcd',
  jobId,
  jobToken: `glcbt-${jobId}`,
  phase: 'running',
  weight: 5.657,
  expectedWeight: 5.657,
  traceOffset: 0,
  acquiredAt: 1,
  phaseSince: 1,
  ...o,
})
const put = (r: unknown): string => `${JSON.stringify({t: 'put', r})}\n`
const tmp = (): string => mkdtempSync(join(tmpdir(), 'hpr-journal-'))

/** Real file operations, except that the disk fills up: the next write stores half of its bytes, then fails. */
class FullDisk implements StateFileIo {
  full = 0
  truncateFails = 0
  async write(
    fd: Parameters<StateFileIo['write']>[0],
    buf: Buffer,
    offset: number,
    length: number,
  ): Promise<{bytesWritten: number}> {
    if (this.full > 0) {
      this.full--
      await fd.write(buf, offset, Math.max(1, Math.floor(length / 2)))
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), {code: 'ENOSPC'})
    }
    return fd.write(buf, offset, length)
  }

  async truncate(fd: Parameters<StateFileIo['truncate']>[0], size: number): Promise<void> {
    if (this.truncateFails > 0) {
      this.truncateFails--
      throw Object.assign(new Error('EIO: i/o error'), {code: 'EIO'})
    }
    await fd.truncate(size)
  }
}

describe('a full disk (ENOSPC half-way through a write)', () => {
  it.each([
    ['the partial line is cut at once', 0],
    ['the partial line is cut before the next append when it could not be cut at once', 1],
  ])('%s; the next start loads every confirmed change', async (_name, truncateFails) => {
    const path = join(tmp(), 'state.json')
    const io = new FullDisk()
    const {store} = await StateStore.open(new FsStateFile(path, io), {now})
    await store.put(rec(1))
    io.full = 1
    io.truncateFails = truncateFails
    await expect(store.put(rec(2))).rejects.toThrow(/ENOSPC/)
    // Space is back: the daemon goes on appending.
    await store.put(rec(3))
    await store.close()
    expect(
      readFileSync(path, 'utf8')
        .split('\n')
        .every((l) => l === '' || JSON.parse(l)),
    ).toBe(true)
    const {store: again, report} = await StateStore.open(new FsStateFile(path), {now})
    expect([...again.records.keys()].sort()).toEqual(
      ['tok0abcd/1', 'tok0abcd/2', 'tok0abcd/3'].filter((k) => k !== 'tok0abcd/2'),
    )
    expect(report.tornTail).toBe(false)
  })

  it('a partial line glued to a later full one (left by an older version) is cut at load, with a warning and a backup', async () => {
    const text = HEADER + put(rec(1)) + put(rec(2)).slice(0, 40) + put(rec(3)) + put(rec(4))
    const f = new MemoryStateFile(text)
    const {store, report} = await StateStore.open(f, {now})
    expect([...store.records.keys()]).toEqual(['tok0abcd/1', 'tok0abcd/3', 'tok0abcd/4'])
    expect(report.tornTail).toBe(true)
    expect(report.warnings).toEqual([
      expect.stringMatching(
        /^\/virtual\/state\.jsonl:3: cut 40 bytes of a change that was never confirmed .*; the change written after it is kept$/,
      ),
    ])
    expect(f.backups.get(report.backup!)).toBe(text)
    expect(f.content).not.toContain(put(rec(2)).slice(0, 40) + '{')
  })

  it('torn fragments of every length, anywhere, are cut; the entries after them are kept', async () => {
    const line = put(rec(2))
    for (let cut = 1; cut < line.length - 1; cut += 7) {
      const text = HEADER + put(rec(1)) + line.slice(0, cut) + put(rec(3))
      const {store} = await StateStore.open(new MemoryStateFile(text), {now})
      expect([...store.records.keys()], `cut at ${cut}`).toEqual(['tok0abcd/1', 'tok0abcd/3'])
    }
  })

  it('a line that is not ours is still refused, and the file is left as it is', async () => {
    const text = `${HEADER}${put(rec(1))}hello world\n${put(rec(3))}`
    const f = new MemoryStateFile(text)
    await expect(StateStore.open(f, {now})).rejects.toThrow(StateCorruptError)
    expect(f.content).toBe(text)
  })
})

describe('state records are checked by their schema at load', () => {
  it.each([
    [
      'an unknown phase',
      put(rec(2, {phase: 'bogus' as never})),
      /the record of job 2 \(runner tok0abcd\) is not valid \(r\.phase: Invalid option/,
    ],
    [
      'a record without weight',
      put({...rec(2), weight: undefined}),
      /the record of job 2 .*r\.weight: Invalid input: expected number/,
    ],
    ['a negative weight', put(rec(2, {weight: -1})), /r\.weight: /],
    ['a null line', 'null\n', /an entry is not valid \(entry: /],
    ['an orphan mark without its mark', '{"t":"orphan"}\n', /an entry is not valid \(m: /],
    ['a kept resource that is null', '{"t":"kept","k":null}\n', /an entry is not valid \(k: /],
    ['an unknown entry type', '{"t":"frobnicate"}\n', /an entry is not valid \(t: /],
  ])('%s: an error of that entry, kept in the file, the others load', async (_name, line, re) => {
    const text = HEADER + put(rec(1)) + line + put(rec(3))
    const f = new MemoryStateFile(text)
    const {store, report} = await StateStore.open(f, {now})
    expect([...store.records.keys()]).toEqual(['tok0abcd/1', 'tok0abcd/3'])
    expect(report.errors).toEqual([expect.stringMatching(re)])
    expect(report.errors[0]).toMatch(/^\/virtual\/state\.jsonl:3: /)
    // Kept verbatim for a human, through the rewrite at start and the next one.
    expect(f.content).toContain(line)
    const {report: again} = await StateStore.open(new MemoryStateFile(f.content), {now})
    expect(again.errors).toHaveLength(1)
    // No weight that is not a number reaches the quota.
    for (const r of store.records.values()) expect(Number.isFinite(r.weight)).toBe(true)
  })

  it('a newer valid change of the same record supersedes its invalid version', async () => {
    const f = new MemoryStateFile(HEADER + put(rec(2, {phase: 'bogus' as never})))
    const {store} = await StateStore.open(f, {now})
    await store.put(rec(2))
    const {store: again, report} = await StateStore.open(new MemoryStateFile(f.content), {now})
    expect(report.errors).toEqual([])
    expect(again.records.get('tok0abcd/2')?.phase).toBe('running')
  })

  it('a header whose version is not a number is refused', async () => {
    const err = await StateStore.open(
      new MemoryStateFile('{"t":"header","format":"heptapod-paas-runner-state","version":"abc"}\n'),
      {now},
    ).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(StateCorruptError)
    expect((err as Error).message).toMatch(/:1: corrupt state file: invalid header \(version: /)
  })
})

describe('a job payload is stored once', () => {
  it('whatever the number of changes of its record; read back with the record; gone once launched', async () => {
    const payload = {id: 5, token: 'glcbt-5', variables: [{key: 'BIG', value: 'x'.repeat(100_000)}]}
    const f = new MemoryStateFile()
    const {store} = await StateStore.open(f, {now})
    let r = rec(5, {phase: 'acquired', payload})
    await store.put(r)
    for (const phase of ['provisioning', 'provisioned', 'launching'] as const) r = await store.transition(r, phase)
    expect(f.content!.split('x'.repeat(100_000)).length - 1).toBe(1)
    const {store: again} = await StateStore.open(new MemoryStateFile(f.content), {now})
    expect(again.records.get('tok0abcd/5')).toMatchObject({phase: 'launching', payload})
    // The snapshot at start wrote it once too.
    const {payload: _p, ...launched} = r
    void _p
    await store.transition(launched, 'launched')
    const {store: third} = await StateStore.open(new MemoryStateFile(f.content), {now})
    expect(third.records.get('tok0abcd/5')!.payload).toBeUndefined()
  })

  it('journals of the previous format (payload inline) still load', async () => {
    const payload = {id: 6, token: 'glcbt-6', variables: []}
    const {store} = await StateStore.open(new MemoryStateFile(HEADER + put(rec(6, {phase: 'acquired', payload}))), {
      now,
    })
    expect(store.records.get('tok0abcd/6')!.payload).toEqual(payload)
  })
})

describe('a symlinked state file', () => {
  it('is followed: the file it points to is written, the link stays', async () => {
    const dir = tmp()
    const real = join(dir, 'real-state.json')
    const link = join(dir, 'state.json')
    writeFileSync(real, '')
    symlinkSync(real, link)
    const {store} = await StateStore.open(new FsStateFile(link), {now})
    await store.put(rec(1))
    await store.close()
    const {store: again} = await StateStore.open(new FsStateFile(link), {now})
    await again.close()
    expect(lstatSync(link).isSymbolicLink()).toBe(true)
    expect(readFileSync(real, 'utf8')).toContain('"jobId":1')
    expect(lstatSync(real).mode & 0o777).toBe(0o600)
  })
})

import {mkdtempSync, readFileSync} from 'node:fs'
import {open} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, beforeAll, describe, expect, it, vi} from 'vitest'

import {FsStateFile} from '../../src/adapters/state/fs-state-file.js'
import {StateStore} from '../../src/core/state/state-store.js'
import {waitUntil} from '../helpers/wait.js'

/**
 * Durability cannot be seen in the file's content (the page cache keeps it either way, until the
 * power goes), so these tests watch the file-handle calls: every write is followed by an fsync
 * (or fdatasync) before the call resolves; a replacement also syncs its directory.
 */
type Op = {op: 'write' | 'sync' | 'datasync'}

let FileHandle: {prototype: Record<string, (...a: unknown[]) => Promise<unknown>>}
beforeAll(async () => {
  const h = await open(join(mkdtempSync(join(tmpdir(), 'hpr-fh-')), 'probe'), 'w')
  FileHandle = Object.getPrototypeOf(h).constructor as typeof FileHandle
  await h.close()
})
afterEach(() => {
  vi.restoreAllMocks()
})

/** Records write and sync calls on every file handle, in the order they complete. */
function watchHandles(gate?: Promise<void>): Op[] {
  const ops: Op[] = []
  for (const op of ['write', 'writeFile', 'sync', 'datasync'] as const) {
    const real = FileHandle.prototype[op]! as (...a: unknown[]) => Promise<unknown>
    vi.spyOn(FileHandle.prototype, op).mockImplementation(async function (this: unknown, ...args: unknown[]) {
      if ((op === 'sync' || op === 'datasync') && gate) await gate
      const r = await real.apply(this, args)
      // writeFile writes the whole text (it loops over partial writes): a write all the same.
      ops.push({op: op === 'writeFile' ? 'write' : op})
      return r
    } as never)
  }
  return ops
}

describe('FsStateFile: durability', () => {
  it('syncs every append before it resolves', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpr-fsync-'))
    const file = new FsStateFile(join(dir, 'state.json'))
    const ops = watchHandles()
    await file.append('{"a":1}\n')
    await file.append('{"a":2}\n')
    const kinds = ops.map((o) => o.op)
    // write, then a sync of the same handle, for each append; never two writes in a row unsynced.
    expect(kinds).toEqual([
      'write',
      expect.stringMatching(/^(data)?sync$/),
      'write',
      expect.stringMatching(/^(data)?sync$/),
    ])
    expect(readFileSync(join(dir, 'state.json'), 'utf8')).toBe('{"a":1}\n{"a":2}\n')
    await file.close()
  })

  it('an append does not resolve while its sync is still running', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpr-fsync-'))
    const file = new FsStateFile(join(dir, 'state.json'))
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const ops = watchHandles(gate)
    let done = false
    const p = file.append('{"a":1}\n').then(() => (done = true))
    // The write itself lands; the sync waits for the gate.
    await waitUntil(() => ops.some((o) => o.op === 'write'), 10_000, 'the write')
    expect(ops.map((o) => o.op)).toEqual(['write'])
    await new Promise((r) => setImmediate(r))
    expect(done).toBe(false)
    release()
    await p
    expect(ops.map((o) => o.op)).toEqual(['write', expect.stringMatching(/^(data)?sync$/)])
    await file.close()
  })

  it('a replacement syncs the new content, then the directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpr-fsync-'))
    const file = new FsStateFile(join(dir, 'state.json'))
    const ops = watchHandles()
    await file.replace(['{"t":"header"}\n'])
    const kinds = ops.map((o) => o.op)
    // The temp file: write, sync; then (after the rename) the directory: sync.
    expect(kinds).toEqual(['write', expect.stringMatching(/^(data)?sync$/), expect.stringMatching(/^(data)?sync$/)])
    expect(readFileSync(join(dir, 'state.json'), 'utf8')).toBe('{"t":"header"}\n')
  })

  it('the state store over the real file: every commit is synced before it resolves', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpr-fsync-'))
    const {store} = await StateStore.open(new FsStateFile(join(dir, 'state.json')), {now: () => 1})
    const ops = watchHandles()
    for (let i = 0; i < 3; i++) {
      await store.put({
        runner: 'tok0abcd',
        jobId: i,
        jobToken: `glcbt-${i}`,
        phase: 'acquired',
        weight: 1,
        expectedWeight: 1,
        traceOffset: 0,
        acquiredAt: 1,
        phaseSince: 1,
      })
      // At the moment the commit resolves, its write has been synced.
      expect(ops.at(-1)?.op).toMatch(/^(data)?sync$/)
    }
    expect(ops.filter((o) => o.op === 'write')).toHaveLength(3)
    expect(ops.filter((o) => /sync/.test(o.op))).toHaveLength(3)
    await store.close()
  })
})

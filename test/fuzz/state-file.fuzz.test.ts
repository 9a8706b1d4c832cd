import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import type {JobPayload} from '../../src/core/job-payload.js'
import {JOB_PHASES} from '../../src/core/state/job-record.js'
import type {JobRecord} from '../../src/core/state/job-record.js'
import type {StateFilePort} from '../../src/core/state/state-file-port.js'
import {StateCorruptError, StateStore} from '../../src/core/state/state-store.js'
import {MemoryStateFile} from '../helpers/memory-state-file.js'
import {fuzz, FUZZ_TIMEOUT_MS} from './fuzz-params.js'

/**
 * Issue 12: the state-file loader, given truncations, torn writes and corruptions, loads every
 * confirmed change or refuses with StateCorruptError (leaving the file as it was); never
 * anything else, and never a record the dispatcher cannot drive.
 */

const now = () => 1_000
type Op =
  | {kind: 'put'; jobId: number; phase: JobRecord['phase']; payload: boolean; weight: number}
  | {kind: 'del'; jobId: number}
  | {kind: 'orphan'; id: number}
  | {kind: 'meta'}
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('put' as const),
      jobId: fc.integer({min: 1, max: 4}),
      phase: fc.constantFrom(...JOB_PHASES),
      payload: fc.boolean(),
      weight: fc.constantFrom(0, 1, 2.378, 13.454, 76.109),
    }),
  },
  {weight: 2, arbitrary: fc.record({kind: fc.constant('del' as const), jobId: fc.integer({min: 1, max: 4})})},
  {weight: 1, arbitrary: fc.record({kind: fc.constant('orphan' as const), id: fc.integer({min: 1, max: 3})})},
  {weight: 1, arbitrary: fc.constant({kind: 'meta' as const})},
)

/** One payload object per job, shared by its records, as the dispatcher does. */
const payloads = new Map<number, JobPayload>()
const payloadOf = (jobId: number): JobPayload => {
  if (!payloads.has(jobId))
    payloads.set(jobId, {
      id: jobId,
      token: `glcbt-${jobId}`,
      variables: [{key: 'CI_CLEVER_CLOUD_FLAVOR', value: 'S'}],
      job_info: {project_id: 42, script: ['echo {"t":"put"}', `"${'\\'}n`]},
    })
  return payloads.get(jobId)!
}

async function run(store: StateStore, ops: Op[], skip?: number): Promise<void> {
  for (const [i, o] of ops.entries()) {
    if (i === skip) continue
    try {
      if (o.kind === 'put') {
        await store.put({
          runner: 'tok0abcd',
          jobId: o.jobId,
          jobToken: `glcbt-${o.jobId}`,
          phase: o.phase,
          weight: o.weight,
          expectedWeight: o.weight,
          traceOffset: 0,
          acquiredAt: 1,
          phaseSince: i,
          ...(o.payload ? {payload: payloadOf(o.jobId)} : {}),
        })
      } else if (o.kind === 'del') await store.delete('tok0abcd', o.jobId)
      else if (o.kind === 'orphan')
        await store.markOrphan({
          runner: 'tok0abcd',
          resourceId: `app_${o.id}`,
          name: `hpd-job-tok0abcd-${o.id}`,
          firstSeenAt: i,
          resource: {id: `app_${o.id}`},
        })
      else await store.setSystemId(`r_${String(i).padStart(12, '0')}`)
    } catch {
      // A failed write: the daemon goes on (the dispatcher retries or forgets the job).
    }
  }
}

/** A file whose `failAt`-th append writes only `cut` bytes and fails, without cutting them: an older version after ENOSPC. */
class GluingFile implements StateFilePort {
  readonly path = '/virtual/state.jsonl'
  content = ''
  private appends = 0
  constructor(
    private readonly failAt: number,
    private readonly cut: number,
  ) {}
  async read(): Promise<string | undefined> {
    return this.content || undefined
  }
  async append(text: string): Promise<void> {
    if (this.appends++ === this.failAt) {
      // Torn for real: at least the last character of the entry and its newline are missing.
      this.content += text.slice(0, Math.min(this.cut, text.length - 2))
      throw new Error('ENOSPC: simulated')
    }
    this.content += text
  }
  async replace(parts: readonly string[]): Promise<void> {
    this.content = parts.join('')
  }
  async backup(): Promise<string> {
    return `${this.path}.torn`
  }
  async close(): Promise<void> {}
}

function parsesAsJson(text: string): boolean {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

/** What a loaded store holds, comparable across loads. */
function contents(s: StateStore): unknown {
  return {
    records: [...s.records.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, r]) => [k, r.phase, r.weight, r.jobToken, r.phaseSince, r.payload ? JSON.stringify(r.payload) : null]),
    orphans: [...s.orphans.keys()].sort(),
    systemId: s.systemId ?? null,
  }
}

function checkDrivable(s: StateStore): void {
  for (const r of s.records.values()) {
    expect(JOB_PHASES).toContain(r.phase)
    expect(Number.isFinite(r.weight) && r.weight >= 0).toBe(true)
    expect(typeof r.jobToken).toBe('string')
  }
}

async function journal(ops: Op[]): Promise<string> {
  const f = new MemoryStateFile()
  const {store} = await StateStore.open(f, {now})
  await run(store, ops)
  return f.content!
}

describe('fuzz: the state-file loader', () => {
  it(
    'a journal cut anywhere loads as the journal up to its last complete line',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(op, {maxLength: 25}), fc.double({min: 0, max: 1, noNaN: true}), async (ops, at) => {
          const text = await journal(ops)
          const cut = text.slice(0, Math.floor(at * text.length))
          // A last line that only lacks its newline is a complete entry: it loads too.
          const tail = cut.slice(cut.lastIndexOf('\n') + 1)
          const whole = cut.slice(0, cut.lastIndexOf('\n') + 1) + (parsesAsJson(tail) ? tail : '')
          const loaded = await StateStore.open(new MemoryStateFile(cut), {now}).catch((e: unknown) => e)
          if (whole === '') {
            // Cut inside the header: refused (or empty), never misread.
            if (!(loaded instanceof StateStore) && !('store' in (loaded as object)))
              expect(loaded).toBeInstanceOf(StateCorruptError)
            return
          }
          const expected = await StateStore.open(new MemoryStateFile(whole), {now})
          expect(loaded).not.toBeInstanceOf(Error)
          const {store, report} = loaded as Awaited<ReturnType<typeof StateStore.open>>
          expect(contents(store)).toEqual(contents(expected.store))
          expect(report.errors).toEqual([])
          checkDrivable(store)
        }),
        fuzz(200),
      )
    },
    FUZZ_TIMEOUT_MS,
  )

  it(
    'a write torn by a full disk, then later writes glued after it: every confirmed change is loaded',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(op, {minLength: 1, maxLength: 25}),
          fc.nat(),
          fc.oneof(fc.integer({min: 1, max: 40}), fc.integer({min: 1, max: 400})),
          async (ops, k, cut) => {
            const failAt = k % ops.length
            const torn = new GluingFile(failAt, cut)
            const {store} = await StateStore.open(torn, {now})
            await run(store, ops)
            const model = new MemoryStateFile()
            const {store: m} = await StateStore.open(model, {now})
            await run(m, ops, failAt)
            const {store: loaded, report} = await StateStore.open(new MemoryStateFile(torn.content), {now})
            const {store: expected} = await StateStore.open(new MemoryStateFile(model.content), {now})
            expect(contents(loaded)).toEqual(contents(expected))
            expect(report.errors).toEqual([])
            checkDrivable(loaded)
          },
        ),
        fuzz(200),
      )
    },
    FUZZ_TIMEOUT_MS,
  )

  it(
    'random corruption: loads what it can or refuses with StateCorruptError, and a refused file is left as it was',
    async () => {
      const corruption = fc.record({
        at: fc.double({min: 0, max: 1, noNaN: true}),
        cut: fc.nat(12),
        insert: fc.string({maxLength: 12, unit: fc.constantFrom(...'{}[]":,\n\\0123456789.-eEtrufalsn \u0000\u00ff')}),
      })
      await fc.assert(
        fc.asyncProperty(
          fc.array(op, {maxLength: 20}),
          fc.array(corruption, {minLength: 1, maxLength: 3}),
          async (ops, edits) => {
            let text = await journal(ops)
            for (const e of edits) {
              const i = Math.floor(e.at * text.length)
              text = text.slice(0, i) + e.insert + text.slice(i + e.cut)
            }
            const f = new MemoryStateFile(text)
            const loaded = await StateStore.open(f, {now}).catch((e: unknown) => e)
            if (loaded instanceof Error) {
              expect(loaded).toBeInstanceOf(StateCorruptError)
              expect(f.content).toBe(text)
              return
            }
            checkDrivable((loaded as Awaited<ReturnType<typeof StateStore.open>>).store)
          },
        ),
        fuzz(300),
      )
    },
    FUZZ_TIMEOUT_MS,
  )
})

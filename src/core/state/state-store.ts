import type {JobPayload} from '../job-payload.js'
import {recordKey, type JobPhase, type JobRecord, type KeptResource, type OrphanMark} from './job-record.js'
import {ReplayedState, STATE_FORMAT, STATE_VERSION} from './replayed-state.js'
import type {StateFilePort} from './state-file-port.js'
import type {JobStatePort, LoadReport} from './state-port.js'

/** What is written; `StateEntry` (its schema) is what is read back. */
type Entry =
  | {t: 'header'; format: string; version: number}
  | {t: 'meta'; systemId: string}
  | {t: 'put'; r: JobRecord & {hasPayload?: true}}
  | {t: 'del'; k: string}
  | {t: 'payload'; k: string; p: JobPayload}
  | {t: 'orphan'; m: OrphanMark}
  | {t: 'orphan-del'; runner: string; id: string}
  | {t: 'kept'; k: KeptResource}
  | {t: 'kept-del'; runner: string; id: string}

export type {LoadReport} from './state-port.js'
export {STATE_FORMAT, STATE_VERSION, StateCorruptError, type InvalidEntry} from './replayed-state.js'

/** Appends that are not yet compacted, beyond which the file is rewritten as a snapshot. */
const COMPACT_AFTER_ENTRIES = 5000

/**
 * Durable job records, written ahead of every side effect. The file is a JSON-lines journal:
 * each change is one line (a job's payload has its own line, written once), appended and
 * fsynced before `commit` resolves (concurrent commits share one fsync). It is compacted into
 * a snapshot (atomic rename) when it grows. A crash or a full disk can tear a write; loading
 * cuts the torn part wherever it lies, and every line is checked by its schema.
 */
export class StateStore extends ReplayedState implements JobStatePort {
  /** The lines the last commit of each record wrote, reused by compaction. */
  private readonly lines = new Map<string, RecordLines>()
  private queue: Array<{line: string; resolve: () => void; reject: (e: unknown) => void}> = []
  private flushing: Promise<void> | undefined
  private appendedSinceSnapshot = 0
  private closed = false
  /** Latency of the last commits (ms), for the benchmark. */
  readonly commitLatencies: number[] = []
  /** Compactions (rewrites of the whole file) since open, for the benchmark and tests. */
  compactions = 0

  private constructor(file: StateFilePort, now: () => number) {
    super(file, now)
  }

  /** Loads the file (or imports the original's), ready for commits. Throws StateCorruptError. */
  static async open(file: StateFilePort, opts: {now: () => number}): Promise<{store: StateStore; report: LoadReport}> {
    const store = new StateStore(file, opts.now)
    const text = await file.read()
    const report = store.parse(text)
    if (report.legacy) report.importedFrom = await file.backup('.imported-from-0.6.3')
    // The rewrite below drops torn fragments: keep the file as it was, for inspection.
    if (report.tornTail) report.backup = await file.backup('.torn')
    // Rewrite at once: drops a torn tail, compacts what the last run appended, converts an import.
    await store.snapshot()
    return {store, report}
  }

  /**
   * Reads the file without writing anything (for `status` while the daemon runs).
   * Throws StateCorruptError; an absent file reads as empty.
   */
  static async inspect(file: StateFilePort, opts: {now: () => number}): Promise<StateStore> {
    const store = new StateStore(file, opts.now)
    store.parse(await file.read())
    store.closed = true
    return store
  }

  get path(): string {
    return this.file.path
  }

  /** Durably records (or replaces) a job record. Its payload is written once, not with every change. */
  async put(record: JobRecord): Promise<void> {
    const k = recordKey(record.runner, record.jobId)
    this.records.set(k, record)
    this.dropInvalid(k)
    const newPayload = record.payload !== undefined && this.payloads.get(k) !== record.payload
    const previous = this.lines.get(k)
    // The payload line is kept from the commit that wrote it: compaction writes it again.
    const payloadLine =
      record.payload &&
      (newPayload || !previous?.payload ? line({t: 'payload', k, p: record.payload}) : previous.payload)
    const lines: RecordLines = {
      put: line({t: 'put', r: stored(record)}),
      ...(payloadLine ? {payload: payloadLine} : {}),
    }
    if (newPayload) this.payloads.set(k, record.payload!)
    if (!record.payload) this.payloads.delete(k)
    this.lines.set(k, lines)
    try {
      await this.commitText(newPayload ? payloadLine! + lines.put : lines.put)
    } catch (error) {
      // Not written after all: the next change of this record writes its payload again.
      if (newPayload && this.payloads.get(k) === record.payload) this.payloads.delete(k)
      throw error
    }
  }

  /** Moves a record to a new phase (and other fields), durably. */
  async transition(record: JobRecord, phase: JobPhase, changes: Partial<JobRecord> = {}): Promise<JobRecord> {
    const next: JobRecord = {...record, ...changes, phase, phaseSince: this.now()}
    await this.put(next)
    return next
  }

  async delete(runner: string, jobId: number): Promise<void> {
    const k = recordKey(runner, jobId)
    this.records.delete(k)
    this.payloads.delete(k)
    this.lines.delete(k)
    this.dropInvalid(k)
    await this.commit({t: 'del', k})
  }

  async markOrphan(m: OrphanMark): Promise<void> {
    this.orphans.set(`${m.runner}/${m.resourceId}`, m)
    await this.commit({t: 'orphan', m})
  }

  async unmarkOrphan(runner: string, id: string): Promise<void> {
    if (!this.orphans.delete(`${runner}/${id}`)) return
    await this.commit({t: 'orphan-del', runner, id})
  }

  async keep(k: KeptResource): Promise<void> {
    this.kept.set(`${k.runner}/${k.resourceId}`, k)
    await this.commit({t: 'kept', k})
  }

  async setSystemId(systemId: string): Promise<void> {
    this.systemId = systemId
    await this.commit({t: 'meta', systemId})
  }

  /** Waits for pending commits, then stops accepting more. */
  async close(): Promise<void> {
    await this.flushing
    this.closed = true
    await this.file.close()
  }

  /** Entries of one change go in one append: a torn write never leaves half of a change. */
  private commit(...entries: Entry[]): Promise<void> {
    return this.commitText(entries.map(line).join(''))
  }

  private commitText(text: string): Promise<void> {
    if (this.closed) return Promise.reject(new Error('state store is closed'))
    return new Promise<void>((resolve, reject) => {
      this.queue.push({line: text, resolve, reject})
      if (!this.flushing) this.flushing = this.flush()
    })
  }

  /** Group commit: everything queued goes in one append and one fsync. */
  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue
      this.queue = []
      const t0 = performance.now()
      try {
        if (this.appendedSinceSnapshot + batch.length > COMPACT_AFTER_ENTRIES) {
          await this.snapshot()
        } else {
          await this.file.append(batch.map((b) => b.line).join(''))
          this.appendedSinceSnapshot += batch.length
        }
        const ms = performance.now() - t0
        for (const b of batch) b.resolve()
        this.commitLatencies.push(ms)
        if (this.commitLatencies.length > 10_000) this.commitLatencies.splice(0, 5000)
      } catch (error) {
        for (const b of batch) b.reject(error)
      }
    }
    this.flushing = undefined
  }

  /**
   * Rewrites the file as header + current content, atomically. A record's lines are those its
   * last commit wrote (kept by `put`), not serialised again: with thousands of jobs, serialising
   * them all would stall the event loop for a tenth of a second at every compaction.
   */
  private async snapshot(): Promise<void> {
    const parts = [line({t: 'header', format: STATE_FORMAT, version: STATE_VERSION})]
    if (this.systemId) parts.push(line({t: 'meta', systemId: this.systemId}))
    this.payloads.clear()
    for (const [k, r] of this.records) {
      let lines = this.lines.get(k)
      // Records read from the file (or imported) have no lines yet. Otherwise `put` keeps a
      // payload line for as long as the record has its payload.
      if (!lines) {
        lines = {
          put: line({t: 'put', r: stored(r)}),
          ...(r.payload ? {payload: line({t: 'payload', k, p: r.payload})} : {}),
        }
        this.lines.set(k, lines)
      }
      if (r.payload) {
        this.payloads.set(k, r.payload)
        parts.push(lines.payload!)
      }
      parts.push(lines.put)
    }
    for (const m of this.orphans.values()) parts.push(line({t: 'orphan', m}))
    for (const k of this.kept.values()) parts.push(line({t: 'kept', k}))
    for (const e of this.invalid) parts.push(`${e.raw}\n`)
    await this.file.replace(parts)
    this.appendedSinceSnapshot = 0
    this.compactions++
  }
}

/** A record's journal lines: its `put` entry, and its `payload` entry while it has a payload. */
interface RecordLines {
  put: string
  payload?: string
}

function line(e: Entry): string {
  return `${JSON.stringify(e)}\n`
}

/** A record as written: without its payload, which has its own entry. */
function stored(r: JobRecord): JobRecord & {hasPayload?: true} {
  if (!r.payload) return r
  const {payload: _p, ...rest} = r
  void _p
  return {...rest, hasPayload: true}
}

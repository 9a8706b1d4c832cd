import {PaasRunnerError} from '../errors.js'
import type {JobPayload} from '../job-payload.js'
import {recordKey, type JobPhase, type JobRecord, type KeptResource, type OrphanMark} from './job-record.js'
import {describeEntryIssues, entrySchema, headerSchema, type StateEntry} from './state-entry-schema.js'
import {importLegacyState, isLegacyState} from './legacy-state.js'
import type {StateFilePort} from './state-file-port.js'
import type {JobStatePort, LoadReport} from './state-port.js'
import {salvageTorn} from './torn-write.js'

export const STATE_FORMAT = 'heptapod-paas-runner-state'
export const STATE_VERSION = 1

/** The state file cannot be read: start-up stops, and the file is left untouched. */
export class StateCorruptError extends PaasRunnerError {
  constructor(file: string, line: number | undefined, why: string) {
    super(
      'state_corrupt',
      `${file}${line === undefined ? '' : `:${line}`}: corrupt state file: ${why}. ` +
        'The daemon will not start and will not overwrite it: inspect it, move it aside to start afresh (resources it tracked are then found by the orphan sweep)',
    )
  }
}

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

/** A line that parses but is not a valid entry: kept verbatim in the file, ignored by the daemon. */
export interface InvalidEntry {
  /** 1-based line in the file as loaded. */
  line: number
  raw: string
  /** `runner/jobId` of a job record, when it has those. */
  key?: string
  problem: string
}

export type {LoadReport} from './state-port.js'

/** Appends that are not yet compacted, beyond which the file is rewritten as a snapshot. */
const COMPACT_AFTER_ENTRIES = 5000

/**
 * Durable job records, written ahead of every side effect. The file is a JSON-lines journal:
 * each change is one line (a job's payload has its own line, written once), appended and
 * fsynced before `commit` resolves (concurrent commits share one fsync). It is compacted into
 * a snapshot (atomic rename) when it grows. A crash or a full disk can tear a write; loading
 * cuts the torn part wherever it lies, and every line is checked by its schema.
 */
export class StateStore implements JobStatePort {
  readonly records = new Map<string, JobRecord>()
  readonly orphans = new Map<string, OrphanMark>()
  readonly kept = new Map<string, KeptResource>()
  /** Entries that failed their schema at load; written back as they were, so nothing is lost. */
  readonly invalid: InvalidEntry[] = []
  /** Payload written in the journal for each record key: a payload is stored once, not with every change. */
  private readonly payloads = new Map<string, JobPayload>()
  /** The lines the last commit of each record wrote, reused by compaction. */
  private readonly lines = new Map<string, RecordLines>()
  systemId: string | undefined
  private queue: Array<{line: string; resolve: () => void; reject: (e: unknown) => void}> = []
  private flushing: Promise<void> | undefined
  private appendedSinceSnapshot = 0
  private closed = false
  /** Latency of the last commits (ms), for the benchmark. */
  readonly commitLatencies: number[] = []
  /** Compactions (rewrites of the whole file) since open, for the benchmark and tests. */
  compactions = 0

  private constructor(
    private readonly file: StateFilePort,
    private readonly now: () => number,
  ) {}

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

  /** Fills the store from the file's text: our journal, or the original's JSON state. */
  private parse(text: string | undefined): LoadReport & {legacy?: boolean} {
    const report: LoadReport & {legacy?: boolean} = {
      fresh: text === undefined,
      tornTail: false,
      warnings: [],
      errors: [],
    }
    if (text === undefined || text.trim() === '') return report
    if (text.trimStart().startsWith('{"t":"header"')) {
      this.loadJournal(text, report)
      return report
    }
    let legacy: unknown
    try {
      legacy = JSON.parse(text)
    } catch {
      throw new StateCorruptError(
        this.file.path,
        undefined,
        'neither a heptapod-paas-runner state journal nor a JSON state file of the original',
      )
    }
    if (!isLegacyState(legacy))
      throw new StateCorruptError(
        this.file.path,
        undefined,
        'a JSON object without the launched / pending / to_decommission lists of the original',
      )
    for (const [k, r] of importLegacyState(legacy, this.now(), report)) this.records.set(k, r)
    report.legacy = true
    return report
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

  /**
   * Replays the journal. A line torn by a crash or a failed write (a prefix of an entry, maybe
   * glued to the next entry written) is cut wherever it lies, with a warning; the entries glued
   * after it are kept. A line that parses but fails its schema is an error of that entry: it is
   * kept in the file and ignored. Anything else (not ours, not JSON) stops the start-up.
   */
  private loadJournal(text: string, report: LoadReport): void {
    const lines = text.split('\n')
    let headerSeen = false
    lines.forEach((line, i) => {
      const at = i + 1
      if (line.trim() === '') return
      let values: Array<{raw: string; value: unknown}>
      try {
        values = [{raw: line, value: JSON.parse(line) as unknown}]
      } catch {
        const salvaged = headerSeen ? salvageTorn(line) : undefined
        if (!salvaged)
          throw new StateCorruptError(this.file.path, at, headerSeen ? 'a line is not JSON' : 'missing header')
        if (salvaged.torn) {
          report.tornTail = true
          report.warnings.push(
            `${this.file.path}:${at}: cut ${salvaged.torn.length} bytes of a change that was never confirmed (a write torn by a crash or a full disk)${salvaged.rest ? '; the change written after it is kept' : ''}`,
          )
        }
        values = [salvaged.whole, salvaged.rest]
          .filter((t): t is string => t !== undefined)
          .map((raw) => ({raw, value: JSON.parse(raw) as unknown}))
      }
      for (const {raw, value} of values) {
        if (!headerSeen) {
          const h = headerSchema.safeParse(value)
          if ((value as {t?: unknown} | null)?.t === 'header' && !h.success)
            throw new StateCorruptError(this.file.path, at, `invalid header (${describeEntryIssues(h.error)})`)
          if (!h.success || h.data.format !== STATE_FORMAT)
            throw new StateCorruptError(this.file.path, at, 'missing header')
          if (h.data.version > STATE_VERSION)
            throw new StateCorruptError(this.file.path, at, `written by a newer version (format ${h.data.version})`)
          headerSeen = true
          continue
        }
        const e = entrySchema.safeParse(value)
        if (!e.success) {
          this.noteInvalid(at, raw, value, describeEntryIssues(e.error))
          continue
        }
        this.apply(e.data, at, report)
      }
    })
    if (!headerSeen) throw new StateCorruptError(this.file.path, 1, 'missing header')
    // Those a later change did not supersede.
    report.errors.push(...this.invalid.map((e) => this.describeInvalid(e)))
  }

  private apply(e: StateEntry, at: number, report: LoadReport): void {
    switch (e.t) {
      case 'put': {
        const {hasPayload, payload, ...rest} = e.r
        const k = recordKey(rest.runner, rest.jobId)
        const record = rest as JobRecord
        // Inline (older journals) or stored once in a `payload` entry.
        const p = payload ?? (hasPayload ? this.payloads.get(k) : undefined)
        if (hasPayload && !p)
          report.warnings.push(
            `${this.file.path}:${at}: job ${rest.jobId}: its payload is missing; if it still needs it, it will be failed`,
          )
        if (p) {
          record.payload = p as JobPayload
          this.payloads.set(k, record.payload)
        } else this.payloads.delete(k)
        this.records.set(k, record)
        this.dropInvalid(k)
        break
      }
      case 'payload':
        this.payloads.set(e.k, e.p as JobPayload)
        break
      case 'del':
        this.records.delete(e.k)
        this.payloads.delete(e.k)
        this.dropInvalid(e.k)
        break
      case 'orphan':
        this.orphans.set(`${e.m.runner}/${e.m.resourceId}`, e.m as OrphanMark)
        break
      case 'orphan-del':
        this.orphans.delete(`${e.runner}/${e.id}`)
        break
      case 'kept':
        this.kept.set(`${e.k.runner}/${e.k.resourceId}`, e.k as KeptResource)
        break
      case 'kept-del':
        this.kept.delete(`${e.runner}/${e.id}`)
        break
      case 'meta':
        this.systemId = e.systemId
        break
    }
  }

  private noteInvalid(line: number, raw: string, value: unknown, problem: string): void {
    const o = value as {t?: unknown; r?: {runner?: unknown; jobId?: unknown}} | null
    const r = o && typeof o === 'object' && o.t === 'put' && o.r && typeof o.r === 'object' ? o.r : undefined
    const key =
      r && typeof r.runner === 'string' && typeof r.jobId === 'number' ? recordKey(r.runner, r.jobId) : undefined
    if (key) this.dropInvalid(key)
    this.invalid.push({line, raw, ...(key ? {key} : {}), problem})
  }

  /** What an invalid entry means for the operator, in one line. */
  private describeInvalid(e: InvalidEntry): string {
    const what = e.key
      ? `the record of job ${e.key.slice(e.key.lastIndexOf('/') + 1)} (runner ${e.key.slice(0, e.key.lastIndexOf('/'))})`
      : 'an entry'
    return (
      `${this.file.path}:${e.line}: ${what} is not valid (${e.problem}); it is kept in the file as it is and ignored: fix or remove it` +
      (e.key ? '; meanwhile the job is not driven, and its resource, if any, is treated as an orphan' : '')
    )
  }

  /** A newer change of the same record supersedes its invalid version. */
  private dropInvalid(key: string): void {
    for (let i = this.invalid.length - 1; i >= 0; i--) if (this.invalid[i]!.key === key) this.invalid.splice(i, 1)
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

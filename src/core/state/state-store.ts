import {PaasRunnerError} from '../errors.js'
import type {Json} from '../executor.js'
import type {JobPayload} from '../job-payload.js'
import {recordKey, type JobPhase, type JobRecord, type KeptResource, type OrphanMark} from './job-record.js'
import type {StateFilePort} from './state-file-port.js'

export const STATE_FORMAT = 'heptapod-paas-runner-state'
export const STATE_VERSION = 1

/** The state file cannot be read: start-up stops, and the file is left untouched. */
export class StateCorruptError extends PaasRunnerError {
  constructor(file: string, line: number | undefined, why: string) {
    super('state_corrupt', `${file}${line === undefined ? '' : `:${line}`}: corrupt state file: ${why}. ` +
      'The daemon will not start and will not overwrite it: inspect it, move it aside to start afresh (resources it tracked are then found by the orphan sweep)')
  }
}

type Entry =
  | {t: 'header'; format: string; version: number}
  | {t: 'meta'; systemId: string}
  | {t: 'put'; r: JobRecord}
  | {t: 'del'; k: string}
  | {t: 'orphan'; m: OrphanMark}
  | {t: 'orphan-del'; runner: string; id: string}
  | {t: 'kept'; k: KeptResource}
  | {t: 'kept-del'; runner: string; id: string}

export interface LoadReport {
  /** The file did not exist. */
  fresh: boolean
  /** A state file of the original (0.6.3) was imported; its copy is at this path. */
  importedFrom?: string
  /** The last line was cut by a crash and ignored. */
  tornTail: boolean
  warnings: string[]
}

/** Appends that are not yet compacted, beyond which the file is rewritten as a snapshot. */
const COMPACT_AFTER_ENTRIES = 5000

/**
 * Durable job records, written ahead of every side effect. The file is a JSON-lines journal:
 * each change is one line, appended and fsynced before `commit` resolves (concurrent commits
 * share one fsync). It is compacted into a snapshot (atomic rename) when it grows.
 * A crash can only tear the last line, which loading ignores.
 */
export class StateStore {
  readonly records = new Map<string, JobRecord>()
  readonly orphans = new Map<string, OrphanMark>()
  readonly kept = new Map<string, KeptResource>()
  systemId: string | undefined
  private queue: Array<{line: string; resolve: () => void; reject: (e: unknown) => void}> = []
  private flushing: Promise<void> | undefined
  private appendedSinceSnapshot = 0
  private closed = false
  /** Latency of the last commits (ms), for the benchmark. */
  readonly commitLatencies: number[] = []

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
    const report: LoadReport & {legacy?: boolean} = {fresh: text === undefined, tornTail: false, warnings: []}
    if (text === undefined || text.trim() === '') return report
    if (text.trimStart().startsWith('{"t":"header"')) {
      this.loadJournal(text, report)
      return report
    }
    let legacy: unknown
    try {
      legacy = JSON.parse(text)
    } catch {
      throw new StateCorruptError(this.file.path, undefined, 'neither a heptapod-paas-runner state journal nor a JSON state file of the original')
    }
    if (!isLegacyState(legacy)) throw new StateCorruptError(this.file.path, undefined, 'a JSON object without the launched / pending / to_decommission lists of the original')
    this.importLegacy(legacy, report)
    report.legacy = true
    return report
  }

  get path(): string {
    return this.file.path
  }

  /** Durably records (or replaces) a job record. */
  async put(record: JobRecord): Promise<void> {
    this.records.set(recordKey(record.runner, record.jobId), record)
    await this.commit({t: 'put', r: record})
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

  private commit(entry: Entry): Promise<void> {
    if (this.closed) return Promise.reject(new Error('state store is closed'))
    const line = `${JSON.stringify(entry)}\n`
    return new Promise<void>((resolve, reject) => {
      this.queue.push({line, resolve, reject})
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

  /** Rewrites the file as header + current content, atomically. */
  private async snapshot(): Promise<void> {
    const lines: Entry[] = [{t: 'header', format: STATE_FORMAT, version: STATE_VERSION}]
    if (this.systemId) lines.push({t: 'meta', systemId: this.systemId})
    for (const r of this.records.values()) lines.push({t: 'put', r})
    for (const m of this.orphans.values()) lines.push({t: 'orphan', m})
    for (const k of this.kept.values()) lines.push({t: 'kept', k})
    await this.file.replace(lines.map((l) => `${JSON.stringify(l)}\n`).join(''))
    this.appendedSinceSnapshot = 0
  }

  private loadJournal(text: string, report: LoadReport): void {
    const lines = text.split('\n')
    // A crash can only tear the very last line (no newline yet).
    const last = lines.pop()!
    if (last.trim() !== '') {
      try {
        JSON.parse(last)
        lines.push(last)
      } catch {
        report.tornTail = true
        report.warnings.push(`${this.file.path}:${lines.length + 1}: ignored a line cut short by a crash (the change it carried had not been confirmed)`)
      }
    }
    lines.forEach((line, i) => {
      if (line.trim() === '') return
      let e: Entry
      try {
        e = JSON.parse(line) as Entry
      } catch {
        throw new StateCorruptError(this.file.path, i + 1, 'a line is not JSON')
      }
      if (i === 0) {
        if (e.t !== 'header' || e.format !== STATE_FORMAT) throw new StateCorruptError(this.file.path, 1, 'missing header')
        if (e.version > STATE_VERSION) throw new StateCorruptError(this.file.path, 1, `written by a newer version (format ${e.version})`)
        return
      }
      switch (e.t) {
        case 'put':
          if (!isRecord(e.r)) throw new StateCorruptError(this.file.path, i + 1, 'a job record lacks runner, jobId, jobToken or phase')
          this.records.set(recordKey(e.r.runner, e.r.jobId), e.r)
          break
        case 'del':
          this.records.delete(e.k)
          break
        case 'orphan':
          this.orphans.set(`${e.m.runner}/${e.m.resourceId}`, e.m)
          break
        case 'orphan-del':
          this.orphans.delete(`${e.runner}/${e.id}`)
          break
        case 'kept':
          this.kept.set(`${e.k.runner}/${e.k.resourceId}`, e.k)
          break
        case 'kept-del':
          this.kept.delete(`${e.runner}/${e.id}`)
          break
        case 'meta':
          this.systemId = e.systemId
          break
        default:
          throw new StateCorruptError(this.file.path, i + 1, `unknown entry type ${JSON.stringify((e as {t?: unknown}).t)}`)
      }
    })
  }

  /** The original's format (§2.13): `launched`, `pending` ([handle, payload] pairs), `to_decommission`. */
  private importLegacy(legacy: LegacyState, report: LoadReport): void {
    const now = this.now()
    const add = (h: LegacyHandle, phase: JobPhase, payload?: JobPayload): void => {
      const res = h.paas_resource
      const resourceWeight = res && typeof res === 'object' && !Array.isArray(res) && typeof res.weight === 'number' ? res.weight : undefined
      const expected = typeof h.expected_weight === 'number' ? h.expected_weight : undefined
      const launchedFlag = res && typeof res === 'object' && !Array.isArray(res) && res.launched === true
      let p = phase
      if (phase === 'acquired' && res !== undefined) p = launchedFlag ? 'launched' : 'provisioned'
      const resourceId = typeof res === 'string' ? res : res && typeof res === 'object' && !Array.isArray(res) && typeof res.id === 'string' ? res.id : undefined
      const record: JobRecord = {
        runner: h.runner_name,
        jobId: h.job_id,
        jobToken: h.token,
        phase: p,
        // Old dumps may give no weight at all (the original then assumed 1): weighed at start instead.
        weight: resourceWeight ?? expected ?? 1,
        expectedWeight: expected ?? resourceWeight ?? 1,
        ...(resourceWeight === undefined && expected === undefined ? {weightUnknown: true} : {}),
        traceOffset: typeof h.trace_offset === 'number' ? h.trace_offset : 0,
        acquiredAt: now,
        phaseSince: now,
        ...(payload ? {payload, projectId: payload.job_info?.project_id} : {}),
        ...(res === undefined ? {} : {resource: res as Json}),
        ...(resourceId === undefined ? {} : {resourceId}),
      }
      if (p === 'acquired' && !payload) report.warnings.push(`job ${h.job_id}: imported as pending without its payload`)
      this.records.set(recordKey(record.runner, record.jobId), record)
    }
    for (const h of legacy.launched ?? []) add(h, 'running')
    for (const [h, payload] of legacy.pending ?? []) add(h, 'acquired', payload)
    for (const h of legacy.to_decommission ?? []) add(h, 'finished')
    report.warnings.push(`imported ${this.records.size} job(s) from a state file of the original heptapod-paas-runner`)
  }
}

interface LegacyHandle {
  runner_name: string
  job_id: number
  token: string
  trace_offset?: number
  expected_weight?: number
  paas_resource?: Json
}

interface LegacyState {
  launched?: LegacyHandle[]
  to_decommission?: LegacyHandle[]
  pending?: Array<[LegacyHandle, JobPayload]>
}

function isLegacyHandle(h: unknown): h is LegacyHandle {
  const o = h as LegacyHandle
  return !!o && typeof o === 'object' && typeof o.runner_name === 'string' && typeof o.job_id === 'number' && typeof o.token === 'string'
}

function isLegacyState(v: unknown): v is LegacyState {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return false
  const o = v as Record<string, unknown>
  if (!('launched' in o) && !('pending' in o) && !('to_decommission' in o)) return false
  const list = (x: unknown): boolean => x === undefined || (Array.isArray(x) && x.every(isLegacyHandle))
  const pending = o.pending === undefined || (Array.isArray(o.pending) && o.pending.every((p) => Array.isArray(p) && isLegacyHandle(p[0]) && typeof p[1] === 'object'))
  return list(o.launched) && list(o.to_decommission) && pending
}

function isRecord(r: unknown): r is JobRecord {
  const o = r as JobRecord
  return !!o && typeof o === 'object' && typeof o.runner === 'string' && typeof o.jobId === 'number' && typeof o.jobToken === 'string' && typeof o.phase === 'string'
}

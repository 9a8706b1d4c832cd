import type {JobPayload} from '../job-payload.js'
import {PaasRunnerError} from '../errors.js'
import {recordKey, type JobRecord, type KeptResource, type OrphanMark} from './job-record.js'
import {importLegacyState, isLegacyState} from './legacy-state.js'
import {describeEntryIssues, entrySchema, headerSchema, type StateEntry} from './state-entry-schema.js'
import type {StateFilePort} from './state-file-port.js'
import type {LoadReport} from './state-port.js'
import {salvageTorn} from './torn-write.js'
import {RevisionMap} from '../revision-map.js'

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

/** A line that parses but is not a valid entry: kept verbatim in the file, ignored by the daemon. */
export interface InvalidEntry {
  /** 1-based line in the file as loaded. */
  line: number
  raw: string
  /** `runner/jobId` of a job record, when it has those. */
  key?: string
  problem: string
}

/**
 * The state as the file says it is: the journal replayed (or the original's state imported),
 * line by line, each checked by its schema. The state store builds on it and writes.
 */
export abstract class ReplayedState {
  readonly records = new RevisionMap<string, JobRecord>()
  readonly orphans = new Map<string, OrphanMark>()
  readonly kept = new Map<string, KeptResource>()
  /** Entries that failed their schema at load; written back as they were, so nothing is lost. */
  readonly invalid: InvalidEntry[] = []
  /** Payload written in the journal for each record key: a payload is stored once, not with every change. */
  protected readonly payloads = new Map<string, JobPayload>()
  systemId: string | undefined

  protected constructor(
    protected readonly file: StateFilePort,
    protected readonly now: () => number,
  ) {}

  /** Fills the store from the file's text: our journal, or the original's JSON state. */
  protected parse(text: string | undefined): LoadReport & {legacy?: boolean} {
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
  protected dropInvalid(key: string): void {
    for (let i = this.invalid.length - 1; i >= 0; i--) if (this.invalid[i]!.key === key) this.invalid.splice(i, 1)
  }
}

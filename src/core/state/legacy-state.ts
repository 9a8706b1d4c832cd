import type {Json} from '../executor.js'
import type {JobPayload} from '../job-payload.js'
import {recordKey, type JobPhase, type JobRecord} from './job-record.js'
import type {LoadReport} from './state-port.js'

interface LegacyHandle {
  runner_name: string
  job_id: number
  token: string
  trace_offset?: number
  expected_weight?: number
  paas_resource?: Json
}

export interface LegacyState {
  launched?: LegacyHandle[]
  to_decommission?: LegacyHandle[]
  pending?: Array<[LegacyHandle, JobPayload]>
}

function isLegacyHandle(h: unknown): h is LegacyHandle {
  const o = h as LegacyHandle
  return (
    !!o &&
    typeof o === 'object' &&
    typeof o.runner_name === 'string' &&
    typeof o.job_id === 'number' &&
    typeof o.token === 'string'
  )
}

export function isLegacyState(v: unknown): v is LegacyState {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return false
  const o = v as Record<string, unknown>
  if (!('launched' in o) && !('pending' in o) && !('to_decommission' in o)) return false
  const list = (x: unknown): boolean => x === undefined || (Array.isArray(x) && x.every(isLegacyHandle))
  const pending =
    o.pending === undefined ||
    (Array.isArray(o.pending) &&
      o.pending.every((p) => Array.isArray(p) && isLegacyHandle(p[0]) && typeof p[1] === 'object'))
  return list(o.launched) && list(o.to_decommission) && pending
}

/**
 * The records of a state file of the original (§2.13): `launched`, `pending` ([handle, payload]
 * pairs), `to_decommission`. Warnings go to `report`.
 */
export function importLegacyState(legacy: LegacyState, now: number, report: LoadReport): Map<string, JobRecord> {
  const records = new Map<string, JobRecord>()
  const add = (h: LegacyHandle, phase: JobPhase, payload?: JobPayload): void => {
    const res = h.paas_resource
    const resourceWeight =
      res && typeof res === 'object' && !Array.isArray(res) && typeof res.weight === 'number' ? res.weight : undefined
    const expected = typeof h.expected_weight === 'number' ? h.expected_weight : undefined
    const launchedFlag = res && typeof res === 'object' && !Array.isArray(res) && res.launched === true
    let p = phase
    if (phase === 'acquired' && res !== undefined) p = launchedFlag ? 'launched' : 'provisioned'
    const resourceId =
      typeof res === 'string'
        ? res
        : res && typeof res === 'object' && !Array.isArray(res) && typeof res.id === 'string'
          ? res.id
          : undefined
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
    records.set(recordKey(record.runner, record.jobId), record)
  }
  for (const h of legacy.launched ?? []) add(h, 'running')
  for (const [h, payload] of legacy.pending ?? []) add(h, 'acquired', payload)
  for (const h of legacy.to_decommission ?? []) add(h, 'finished')
  report.warnings.push(`imported ${records.size} job(s) from a state file of the original heptapod-paas-runner`)
  return records
}

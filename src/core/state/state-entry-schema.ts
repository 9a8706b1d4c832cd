import {z} from 'zod'

import type {Json} from '../executor.js'
import {jobPayloadSchema} from '../job-payload.js'
import {JOB_PHASES} from './job-record.js'

const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)
/** A weight: finite and non-negative, or the quota arithmetic breaks (NaN switches it off). */
const weight = z.number().nonnegative().max(1e9)
const time = z.number().nonnegative().max(8.64e15)
const json: z.ZodType<Json> = z.lazy(() =>
  z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(json), z.record(z.string(), json)]),
)

/**
 * A job record as the state file holds it. Unknown fields pass through (a newer field must
 * survive an older reader's snapshot); the fields the dispatcher reads are checked.
 */
export const jobRecordSchema = z.looseObject({
  runner: z.string().min(1),
  jobId: count,
  jobToken: z.string().min(1),
  phase: z.enum(JOB_PHASES),
  weight,
  expectedWeight: weight,
  flavor: z.string().optional(),
  projectId: count.optional(),
  projectName: z.string().optional(),
  /** Inline payload: journals written before payloads were stored once. */
  payload: jobPayloadSchema.optional(),
  /** The payload is in a `payload` entry of the same key. */
  hasPayload: z.literal(true).optional(),
  resource: json.optional(),
  resourceId: z.string().optional(),
  resourceName: z.string().optional(),
  traceOffset: count,
  failure: z.string().optional(),
  failureLogged: z.boolean().optional(),
  canceled: z.boolean().optional(),
  acquiredAt: time,
  phaseSince: time,
  launchedAt: time.optional(),
  deleteAttempts: count.optional(),
  lastDeleteError: z.string().optional(),
})

export const orphanMarkSchema = z.looseObject({
  runner: z.string().min(1),
  resourceId: z.string().min(1),
  name: z.string(),
  jobId: count.optional(),
  firstSeenAt: time,
  resource: json,
})
export const keptResourceSchema = z.looseObject({
  runner: z.string().min(1),
  resourceId: z.string().min(1),
  name: z.string(),
  jobId: count,
  reason: z.string(),
  at: time,
})

export const headerSchema = z.object({t: z.literal('header'), format: z.string(), version: z.number().int().min(1)})

/** Every line after the header. */
export const entrySchema = z.discriminatedUnion('t', [
  z.object({t: z.literal('meta'), systemId: z.string().min(1)}),
  z.object({t: z.literal('put'), r: jobRecordSchema}),
  z.object({t: z.literal('del'), k: z.string()}),
  z.object({t: z.literal('payload'), k: z.string(), p: jobPayloadSchema}),
  z.object({t: z.literal('orphan'), m: orphanMarkSchema}),
  z.object({t: z.literal('orphan-del'), runner: z.string(), id: z.string()}),
  z.object({t: z.literal('kept'), k: keptResourceSchema}),
  z.object({t: z.literal('kept-del'), runner: z.string(), id: z.string()}),
])

export type StateEntry = z.infer<typeof entrySchema>

/** `r.phase: Invalid option…; r.weight: …`, one line, at most three issues. */
export function describeEntryIssues(error: z.ZodError): string {
  const path = (p: readonly PropertyKey[]): string =>
    p.reduce<string>((out, k) => (typeof k === 'number' ? `${out}[${k}]` : out ? `${out}.${String(k)}` : String(k)), '')
  return (
    error.issues
      .slice(0, 3)
      .map((i) => `${path(i.path) || 'entry'}: ${i.message.split('\n')[0]}`)
      .join('; ') + (error.issues.length > 3 ? `; and ${error.issues.length - 3} more` : '')
  )
}

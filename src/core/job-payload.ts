import {z} from 'zod'

import type {JobPayload} from '@heptapod-paas-runner/plugin-api'

/** The payload's type is part of the SDK (executors receive it); its schema stays at the core's edge. */
export {jobVariable, type JobPayload, type JobVariable} from '@heptapod-paas-runner/plugin-api'

/** What the runner needs to fail a job it cannot read: GitLab accepts that with these two alone. */
const jobRefSchema = z.looseObject({
  id: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  token: z.string().min(1).max(4096),
})

/**
 * The schema of a job payload at the edge: the fields the runner and its executors read are
 * checked, the rest passes through to the inner runner as GitLab wrote it.
 */
export const jobPayloadSchema = jobRefSchema.extend({
  job_info: z
    .looseObject({
      id: z.number().optional(),
      name: z.string().optional(),
      stage: z.string().optional(),
      project_id: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
      project_name: z.string().optional(),
    })
    .optional(),
  variables: z.array(z.looseObject({key: z.string(), value: z.string()})).optional(),
  image: z.looseObject({name: z.string().nullish()}).nullish(),
  services: z.array(z.looseObject({name: z.string().nullish(), alias: z.string().nullish()})).nullish(),
})

export type ParsedJobPayload =
  | {ok: true; job: JobPayload}
  /** Unreadable: `ref` when it still has an id and a token (the job can be failed in GitLab), and why, in one line. */
  | {ok: false; ref?: {id: number; token: string}; problem: string}

/** Untrusted JSON → a job payload, or the reason it is not one. Never throws. */
export function parseJobPayload(raw: unknown): ParsedJobPayload {
  const full = jobPayloadSchema.safeParse(raw)
  if (full.success) return {ok: true, job: full.data as JobPayload}
  const problem =
    full.error.issues
      .slice(0, 3)
      .map((i) => `${keyPath(i.path) || 'payload'}: ${i.message.split('\n')[0]}`)
      .join('; ') + (full.error.issues.length > 3 ? `; and ${full.error.issues.length - 3} more` : '')
  const ref = jobRefSchema.safeParse(raw)
  return {ok: false, problem, ...(ref.success ? {ref: {id: ref.data.id, token: ref.data.token}} : {})}
}

/** `variables[0].key` */
function keyPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (out, p) => (typeof p === 'number' ? `${out}[${p}]` : out ? `${out}.${String(p)}` : String(p)),
    '',
  )
}

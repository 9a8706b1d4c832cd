import {z} from 'zod'

import {PaasRunnerError} from '../../../core/errors.js'
import type {LedgerBlocker} from '../../../core/state/cluster-port.js'

const jobs = z.number().int().nonnegative()
const weight = z.number().nonnegative()

/**
 * What the ledger's `reserve` function answers (migration 3): nothing when the request is
 * granted, `granted` when it is while requests wait in line, `fenced` when this daemon's lease
 * is gone, or the limit that refuses it.
 */
const ledgerAnswerSchema = z.discriminatedUnion('kind', [
  z.object({kind: z.literal('granted'), others_waiting: z.boolean()}),
  z.object({kind: z.literal('fenced')}),
  z.object({kind: z.literal('concurrent'), jobs, limit: jobs}),
  z.object({kind: z.literal('provisioning'), jobs, limit: jobs}),
  z.object({kind: z.literal('quota'), used: weight, total: weight, needs: weight}),
  z.object({kind: z.literal('turn'), after: z.array(z.string())}),
])

export type LedgerAnswer = {kind: 'granted'; othersWaiting: boolean} | {kind: 'fenced'} | LedgerBlocker

/** An answer of the ledger this daemon does not know (a later migration, or a damaged function): no admission. */
export class LedgerAnswerError extends PaasRunnerError {
  constructor(detail: string) {
    super('ledger_answer', `the admission ledger answered what this daemon cannot read: ${detail}`, {retryable: true})
  }
}

/** The ledger's answer, checked: a grant, a lost lease, or the limit that refuses the request. */
export function parseLedgerAnswer(raw: unknown): LedgerAnswer {
  if (raw === null || raw === undefined) return {kind: 'granted', othersWaiting: false}
  const r = ledgerAnswerSchema.safeParse(raw)
  if (!r.success) {
    const issue = r.error.issues[0]!
    throw new LedgerAnswerError(`${issue.path.join('.') || 'answer'}: ${issue.message}`)
  }
  const a = r.data
  if (a.kind === 'granted') return {kind: 'granted', othersWaiting: a.others_waiting}
  return a
}

import {describe, expect, it} from 'vitest'

import {LedgerAnswerError, parseLedgerAnswer} from '../../src/adapters/state/pg/ledger-answer.js'

describe("the admission ledger's answer", () => {
  it('reads a grant, a lost lease and each refusal', () => {
    expect(parseLedgerAnswer(null)).toEqual({kind: 'granted', othersWaiting: false})
    expect(parseLedgerAnswer({kind: 'granted', others_waiting: true})).toEqual({kind: 'granted', othersWaiting: true})
    expect(parseLedgerAnswer({kind: 'fenced'})).toEqual({kind: 'fenced'})
    expect(parseLedgerAnswer({kind: 'concurrent', jobs: 4, limit: 4})).toEqual({kind: 'concurrent', jobs: 4, limit: 4})
    expect(parseLedgerAnswer({kind: 'provisioning', jobs: 2, limit: 2})).toEqual({
      kind: 'provisioning',
      jobs: 2,
      limit: 2,
    })
    expect(parseLedgerAnswer({kind: 'quota', used: 52.5, total: 53.8, needs: 2.4})).toEqual({
      kind: 'quota',
      used: 52.5,
      total: 53.8,
      needs: 2.4,
    })
    expect(parseLedgerAnswer({kind: 'turn', after: ['r1 on d2']})).toEqual({kind: 'turn', after: ['r1 on d2']})
  })

  it('refuses, with a typed error naming what is wrong, an answer it does not know: never a grant, never a lost lease', () => {
    for (const [raw, where] of [
      [{kind: 'paused'}, 'kind'],
      [{kind: 'quota', used: '52', total: 53.8, needs: 2}, 'used'],
      [{kind: 'concurrent', jobs: 4}, 'limit'],
      [{kind: 'turn', after: [7]}, 'after.0'],
      [{kind: 'granted'}, 'others_waiting'],
      ['granted', 'answer'],
    ] as const) {
      let error: unknown
      try {
        parseLedgerAnswer(raw)
      } catch (e) {
        error = e
      }
      expect(error, JSON.stringify(raw)).toBeInstanceOf(LedgerAnswerError)
      expect((error as LedgerAnswerError).code).toBe('ledger_answer')
      expect((error as Error).message).toContain(`${where}:`)
    }
  })
})

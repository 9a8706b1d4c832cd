import {Writable} from 'node:stream'

import {afterEach, describe, expect, it} from 'vitest'

import {createLogger} from '../../src/adapters/logging/pino-logger.js'
import {CoordinatorError} from '../../src/core/coordinator/coordinator-errors.js'
import {Redactor} from '../../src/core/redact.js'
import {Harness} from '../helpers/dispatcher-harness.js'

/**
 * The real pino logger, with secrets registered the way the daemon registers them. No call
 * site is trusted to redact first: messages, fields (deep), errors, child bindings and the
 * SIGUSR1 dump all carry the secret raw, and the bytes written must not contain it.
 */
const RUNNER_TOKEN = 'glrt-LoGgEr-RuNnEr-SeCrEt'
const JOB_TOKEN = 'glcbt-64_LoGgEr-JoB-SeCrEt'
const CC_TOKEN = 'cc-LoGgEr-ClEvEr-SeCrEt'

function sink(): {stream: Writable; text: () => string} {
  let out = ''
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out += chunk.toString('utf8')
      cb()
    },
  })
  return {stream, text: () => out}
}

function logger(pretty: boolean) {
  const redactor = new Redactor()
  for (const s of [RUNNER_TOKEN, JOB_TOKEN, CC_TOKEN]) redactor.add(s)
  const out = sink()
  const {logger: log, flush} = createLogger({level: 'debug', pretty, redactor, destination: out.stream})
  return {log, flush, redactor, text: out.text}
}

const SECRETS = [RUNNER_TOKEN, JOB_TOKEN, CC_TOKEN, encodeURIComponent(JOB_TOKEN), 's3cr3t-in-url']

function expectClean(text: string): void {
  expect(text.length).toBeGreaterThan(0)
  for (const s of SECRETS) expect(text, `leaked ${s.slice(0, 8)}…`).not.toContain(s)
}

const harnesses: Harness[] = []
afterEach(() => {
  for (const h of harnesses.splice(0)) {
    h.dispatcher.shutdown('test end').catch(() => {})
    h.dispose()
  }
})

describe.each([false, true])('pino logger (pretty = %s): no secret reaches the output', (pretty) => {
  it('in messages, at every level', () => {
    const {log, text} = logger(pretty)
    log.debug(`debug with ${RUNNER_TOKEN}`)
    log.info(`info with ${JOB_TOKEN}`)
    log.warn(`warn with ${CC_TOKEN} and https://Jenkins:s3cr3t-in-url@push.example/app.git`)
    log.error(`error with ${encodeURIComponent(JOB_TOKEN)}`)
    expectClean(text())
    expect(text()).toContain('[REDACTED]')
    expect(text().split('\n').filter(Boolean)).toHaveLength(4)
  })

  it('in fields, nested ones, arrays, and under secret-looking keys never registered', () => {
    const {log, text} = logger(pretty)
    log.info('job acquired', {
      runner: RUNNER_TOKEN.slice(0, 8),
      detail: `sent ${JOB_TOKEN}`,
      nested: {deeper: {list: ['x', CC_TOKEN, {url: `https://u:s3cr3t-in-url@host/x`}]}},
      private_token: 'glpat-NeVeR-ReGiStErEd-1',
      headers: {Authorization: 'Bearer NeVeR-ReGiStErEd-2'},
    })
    expectClean(text())
    expect(text()).not.toContain('NeVeR-ReGiStErEd')
    expect(text()).toContain(RUNNER_TOKEN.slice(0, 8)) // the unique name is not a secret
  })

  it('in errors: the message is kept, redacted; no stack, no cause', () => {
    const {log, text} = logger(pretty)
    const cause = new Error(`socket to https://x:${CC_TOKEN}@api.example`)
    log.error('launch failed', {error: new Error(`git push with ${JOB_TOKEN} refused`, {cause})})
    log.warn('request failed', {
      error: new CoordinatorError('unavailable', 'GET /job', `503 for ${RUNNER_TOKEN}`, {status: 503}),
    })
    expectClean(text())
    expect(text()).toContain('git push with [REDACTED] refused')
    expect(text()).not.toMatch(/ at .*\.ts:\d+/) // no stack trace
  })

  it('in child loggers: bindings and messages', () => {
    const {log, text} = logger(pretty)
    const child = log.child({runner: RUNNER_TOKEN, clever: {token: 'anything'}})
    child.info(`child message ${JOB_TOKEN}`, {more: CC_TOKEN})
    child.child({job: JOB_TOKEN}).warn('grandchild')
    expectClean(text())
    expect(text()).toContain('child message [REDACTED]')
    expect(text()).toContain('grandchild')
  })

  it('in a secret learned after the logger was made (a job token taken later)', () => {
    const {log, redactor, text} = logger(pretty)
    const later = 'glcbt-64_LaTeR-JoB-SeCrEt'
    redactor.add(later)
    log.info(`job token ${later}`, {token: later, echo: later})
    expect(text()).not.toContain(later)
  })
})

describe('the SIGUSR1 state dump through the real logger', () => {
  it('carries no token, even from a dispatcher that redacts nothing itself', async () => {
    // The harness dispatcher has no redact(): failure reasons keep whatever the error said.
    const h = new Harness()
    harnesses.push(h)
    await h.start()
    const {log, redactor, text} = logger(false)
    const job = h.gitlab.enqueue()
    redactor.add(job.token) // as the daemon's addSecret does when it takes a job
    h.cloud.failNext(
      'provision',
      new Error(`Clever answered 500 for token ${job.token} at https://Jenkins:s3cr3t-in-url@api.example`),
    )
    await h.clock.runUntil(() => h.snapshot().recentFailures.length === 1, 600_000, 'a recorded failure')
    const snapshot = h.snapshot()
    expect(JSON.stringify(snapshot)).toContain(job.token) // the raw snapshot does carry it
    log.warn('state dump (SIGUSR1)', {snapshot})
    expect(text()).toContain('state dump (SIGUSR1)')
    expect(text()).toContain('"recentFailures"')
    expect(text()).not.toContain(job.token)
    expect(text()).not.toContain('s3cr3t-in-url')
  })
})

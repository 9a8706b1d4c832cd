import {readFileSync} from 'node:fs'

import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {CoordinatorError} from '../../src/core/coordinator/coordinator-errors.js'
import {GitLabClient} from '../../src/core/coordinator/gitlab-client.js'
import type {HttpClient, HttpResponse} from '../../src/core/coordinator/http-port.js'
import {jobVariable, parseJobPayload} from '../../src/core/job-payload.js'
import {amendForDependencyProxy} from '@heptapod-paas-runner/plugin-api'
import {MEMORY_FLAVORS} from '../../src/test-doubles/memory/memory-executor.js'
import {fuzz, FUZZ_TIMEOUT_MS} from './fuzz-params.js'

/** Issue 12: the job-payload parser, fed anything GitLab (or a proxy) could send, never throws; what it accepts is safe to use. */

const FIXTURE = JSON.parse(readFileSync('test/fixtures/job-payload.json', 'utf8')) as Record<string, unknown>
const PATHS = [
  'id',
  'token',
  'variables',
  'variables.0',
  'variables.0.key',
  'variables.0.value',
  'variables.3',
  'job_info',
  'job_info.project_id',
  'job_info.project_name',
  'image',
  'image.name',
  'services',
  'services.0',
  'services.0.name',
  'services.0.alias',
  'steps',
  'features',
]
const hostile = fc.oneof(
  fc.jsonValue({maxDepth: 2}),
  fc.constantFrom(
    null,
    '',
    -1,
    0,
    1.5,
    2 ** 53,
    '$CI_DEPENDENCY_PROXY_GROUP_IMAGE_PREFIX',
    '${A}${A}${A}',
    [],
    {},
    [null],
    'x'.repeat(2000),
  ),
)

/** The fixture with a few values replaced (or removed) at chosen paths. */
const payload = fc.dictionary(fc.constantFrom(...PATHS), fc.option(hostile), {minKeys: 1, maxKeys: 3}).map((edits) => {
  const p = structuredClone(FIXTURE)
  for (const [path, v] of Object.entries(edits)) {
    const keys = path.split('.')
    let at: unknown = p
    for (const k of keys.slice(0, -1))
      at = at && typeof at === 'object' ? (at as Record<string, unknown>)[k] : undefined
    if (!at || typeof at !== 'object') continue
    if (v === null) delete (at as Record<string, unknown>)[keys[keys.length - 1]!]
    // A copy: fast-check's values are shared between runs, and must not be mutated (or made cyclic) by the next edit.
    else (at as Record<string, unknown>)[keys[keys.length - 1]!] = structuredClone(v)
  }
  return p
})

describe('fuzz: the job payload at the edge', () => {
  it(
    'parseJobPayload never throws; what it accepts, the runner and its executors can use',
    () => {
      fc.assert(
        fc.property(fc.oneof({weight: 4, arbitrary: payload}, {weight: 1, arbitrary: fc.jsonValue()}), (raw) => {
          const r = parseJobPayload(raw)
          if (!r.ok) {
            expect(r.problem).not.toMatch(/\n/)
            if (r.ref)
              expect(Number.isSafeInteger(r.ref.id) && r.ref.id > 0 && typeof r.ref.token === 'string').toBe(true)
            return
          }
          const job = r.job
          // What the dispatcher and the executors read.
          const flavor = jobVariable(job, 'CI_CLEVER_CLOUD_FLAVOR')
          expect(flavor === undefined || typeof flavor === 'string').toBe(true)
          void MEMORY_FLAVORS.find((f) => f.name === flavor)
          expect(job.job_info?.project_id === undefined || Number.isSafeInteger(job.job_info.project_id)).toBe(true)
          const amended = amendForDependencyProxy(job)
          expect(JSON.parse(JSON.stringify(amended))).toMatchObject({id: job.id, token: job.token})
        }),
        fuzz(500),
      )
    },
    FUZZ_TIMEOUT_MS,
  )

  it(
    'the GitLab client turns any 201 into a job, an unreadable job or a CoordinatorError',
    async () => {
      const body = fc.oneof(
        {weight: 4, arbitrary: payload.map((p) => JSON.stringify(p))},
        {weight: 1, arbitrary: fc.string({maxLength: 200})},
        {weight: 1, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v) ?? '')},
      )
      await fc.assert(
        fc.asyncProperty(
          body,
          fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/html'),
          async (text, type) => {
            const http: HttpClient = {
              request: async (): Promise<HttpResponse> => ({status: 201, headers: {'content-type': type}, body: text}),
            }
            const client = new GitLabClient({
              http,
              sleep: async () => {},
              now: () => 0,
              random: () => 0.5,
              systemId: 'r_0123456789ab',
              info: {name: 'n', version: '0', revision: 'x', platform: 'linux', architecture: 'amd64'},
            })
            try {
              const r = await client.requestJob(
                {url: 'https://gitlab.example.com', token: 'glrt-FuZz-runner-token'},
                {},
              )
              expect(['job', 'unreadable']).toContain(r.kind)
            } catch (error) {
              expect(error).toBeInstanceOf(CoordinatorError)
              expect((error as Error).message).not.toContain('glrt-FuZz-runner-token')
            }
          },
        ),
        fuzz(300),
      )
    },
    FUZZ_TIMEOUT_MS,
  )
})

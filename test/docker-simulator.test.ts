import {mkdtempSync} from 'node:fs'
import {createServer, request} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {gzipSync} from 'node:zlib'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {tar} from '../src/plugins/local-docker/tar.js'
import {DockerSimulator} from '../src/sim/docker/docker-simulator.js'
import {parseTag, referenceMatches} from '../src/sim/docker/docker-sim-rules.js'
import {waitUntil} from './helpers/wait.js'

const dir = mkdtempSync(join(tmpdir(), 'hpr-dsim-'))
const docker = new DockerSimulator(join(dir, 'docker.sock'), {jobDurationMs: 100})
beforeAll(() => docker.start())
afterAll(() => docker.stop())

interface Answer {
  status: number
  body: Buffer
  json(): any
}
function call(method: string, path: string, body?: string | Buffer, contentType = 'application/json'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {socketPath: docker.socketPath, method, path, headers: {'content-type': contentType}},
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const b = Buffer.concat(chunks)
          resolve({status: res.statusCode ?? 0, body: b, json: () => JSON.parse(b.toString())})
        })
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

const q = (o: Record<string, unknown>) => encodeURIComponent(JSON.stringify(o))
const context = (job: unknown = {id: 1, token: 't', variables: []}) =>
  tar({Dockerfile: 'FROM base\nCOPY job.json /job.json\n', 'job.json': JSON.stringify(job)})
async function build(tag: string, labels: Record<string, string> = {}, ctx: Buffer = context()): Promise<Answer> {
  return call('POST', `/v1.41/build?t=${encodeURIComponent(tag)}&labels=${q(labels)}`, ctx, 'application/x-tar')
}

describe('Docker simulator: no kinder than the engine', () => {
  it('answers 400 to an API version outside its range, and tells its range', async () => {
    expect(await call('GET', '/v1.43/version').then((a) => [a.status, a.json().message])).toEqual([
      400,
      'client version 1.43 is too new. Maximum supported API version is 1.41',
    ])
    expect(await call('GET', '/v1.11/containers/json').then((a) => [a.status, a.json().message])).toEqual([
      400,
      'client version 1.11 is too old. Minimum supported API version is 1.12, please upgrade your client to a newer version',
    ])
    const v = await call('GET', '/version')
    expect([v.status, v.json().ApiVersion, v.json().MinAPIVersion]).toEqual([200, '1.41', '1.12'])
    expect((await call('GET', '/v1.41/containers/json')).status).toBe(200)
  })

  it('builds from a plain or a gzip tar context; an invalid tag is a 400 before any build', async () => {
    const plain = await build('plain-ctx')
    const zipped = await build('gzip-ctx:v1', {}, gzipSync(context({id: 2})))
    for (const a of [plain, zipped])
      expect([a.status, a.body.toString()]).toEqual([200, expect.stringContaining('"aux":{"ID":"sha256:')])
    expect(docker.image('gzip-ctx:v1')!.files['job.json']!.toString()).toContain('"id":2')
    expect(docker.image('gzip-ctx')).toBeUndefined()
    const upper = await build('Hpd-Job-X-1')
    expect([upper.status, upper.json().message]).toEqual([
      400,
      'invalid reference format: repository name must be lowercase',
    ])
    expect((await build('bad tag')).status).toBe(400)
    expect((await build('')).status).toBe(400)
    const broken = await build('broken', {}, Buffer.from('not a tar at all'))
    expect(broken.body.toString()).toContain('"error"')
  })

  it('rejects invalid container names and non-JSON bodies with 400, and goes on answering', async () => {
    await build('named')
    const badName = await call(
      'POST',
      `/v1.41/containers/create?name=${encodeURIComponent('bad name')}`,
      JSON.stringify({Image: 'named'}),
    )
    expect([badName.status, badName.json().message]).toEqual([
      400,
      'Invalid container name (bad name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed',
    ])
    const notJson = await call('POST', '/v1.41/containers/create?name=ok-name', 'not json')
    expect(notJson.status).toBe(400)
    expect((await call('GET', `/v1.41/images/json?filters=${encodeURIComponent('{oops')}`)).status).toBe(400)
    expect((await call('GET', '/_ping')).status).toBe(200)
    expect(
      (await call('POST', '/v1.41/containers/create?name=ok-name', JSON.stringify({Image: 'absent'}))).status,
    ).toBe(404)
  })

  it('keeps labels and filters by them (AND), by reference and by dangling', async () => {
    await build('lab-a', {owner: 'me', job: '1'})
    await build('lab-b', {owner: 'me', job: '2'}, context({id: 3}))
    await build('lab-c', {owner: 'you'}, context({id: 4}))
    const list = async (f: Record<string, string[]>) =>
      (await call('GET', `/v1.41/images/json?filters=${q(f)}`))
        .json()
        .flatMap((i: {RepoTags: string[]}) => i.RepoTags)
        .sort()
    expect(await list({label: ['owner=me']})).toEqual(['lab-a:latest', 'lab-b:latest'])
    expect(await list({label: ['owner=me', 'job=2']})).toEqual(['lab-b:latest'])
    expect(await list({label: ['owner']})).toEqual(['lab-a:latest', 'lab-b:latest', 'lab-c:latest'])
    expect(await list({reference: ['lab-*']})).toEqual(['lab-a:latest', 'lab-b:latest', 'lab-c:latest'])
    // Built again: the tag moves, the old image is left dangling, still labelled, and prunable by label.
    await build('lab-a', {owner: 'me', job: '1'}, context({id: 5}))
    expect(await list({dangling: ['true'], label: ['owner=me']})).toEqual(['<none>:<none>'])
    const pruned = await call('POST', `/v1.41/images/prune?filters=${q({dangling: ['true'], label: ['job=1']})}`)
    expect(pruned.json().ImagesDeleted).toHaveLength(1)
    expect(await list({dangling: ['true']})).toEqual([])
    // Containers keep their labels, and inherit the image's.
    expect(
      (
        await call(
          'POST',
          '/v1.41/containers/create?name=lab-c1',
          JSON.stringify({Image: 'lab-c', Labels: {extra: 'x'}}),
        )
      ).status,
    ).toBe(201)
    const cs = (
      await call(
        'GET',
        `/v1.41/containers/json?all=1&filters=${q({label: ['owner=you', 'extra=x'], name: ['^/lab-']})}`,
      )
    ).json()
    expect(cs.map((c: {Names: string[]; Labels: object}) => [c.Names, c.Labels])).toEqual([
      [['/lab-c1'], {owner: 'you', extra: 'x'}],
    ])
    expect((await call('GET', `/v1.41/containers/json?filters=${q({label: ['owner=you']})}`)).json()).toEqual([])
    expect((await call('DELETE', '/v1.41/containers/lab-c1')).status).toBe(204)
  })

  it('inspect, wait, logs (multiplexed), stop; an image in use by a running container cannot be removed', async () => {
    const api = await jobApi()
    try {
      await build(
        'runs',
        {},
        context({
          id: 7,
          token: 't',
          variables: [
            {key: 'CI_API_V4_URL', value: api.url},
            {key: 'SIM_JOB_DURATION_MS', value: '600000'},
          ],
        }),
      )
      expect(
        (
          await call(
            'POST',
            '/v1.41/containers/create?name=runner-1',
            JSON.stringify({Image: 'runs', HostConfig: {NetworkMode: 'host'}}),
          )
        ).status,
      ).toBe(201)
      expect((await call('POST', '/v1.41/containers/runner-1/start')).status).toBe(204)
      expect((await call('POST', '/v1.41/containers/runner-1/start')).status).toBe(304)
      const inspect = (await call('GET', '/v1.41/containers/runner-1/json')).json()
      expect([inspect.Name, inspect.State.Running, inspect.HostConfig.NetworkMode]).toEqual(['/runner-1', true, 'host'])
      expect((await call('DELETE', '/v1.41/images/runs?force=true')).status).toBe(409)
      expect((await call('DELETE', '/v1.41/containers/runner-1')).status).toBe(409)
      const waiting = call('POST', '/v1.41/containers/runner-1/wait')
      await waitUntil(() => api.traces > 0, 10_000, 'the job running')
      expect((await call('POST', '/v1.41/containers/runner-1/stop')).status).toBe(204)
      expect((await waiting).json()).toEqual({StatusCode: 137, Error: null})
      expect((await call('POST', '/v1.41/containers/runner-1/stop')).status).toBe(304)
      expect((await call('GET', '/v1.41/containers/runner-1/logs')).status).toBe(400)
      const logs = (await call('GET', '/v1.41/containers/runner-1/logs?stdout=1&stderr=1')).body
      expect([logs[0], logs.readUInt32BE(4), logs.subarray(8).toString()]).toEqual([
        1,
        logs.length - 8,
        `${JSON.stringify({jobId: 7, result: 'error', detail: 'killed'})}\n`,
      ])
      expect((await call('DELETE', '/v1.41/images/runs')).status).toBe(409)
      expect((await call('DELETE', '/v1.41/containers/runner-1')).status).toBe(204)
      expect((await call('DELETE', '/v1.41/images/runs')).status).toBe(200)
    } finally {
      await api.close()
    }
  })

  it('force-removing a running container kills its job at once', async () => {
    const api = await jobApi()
    try {
      await build(
        'killme',
        {},
        context({
          id: 8,
          token: 't',
          variables: [
            {key: 'CI_API_V4_URL', value: api.url},
            {key: 'SIM_JOB_DURATION_MS', value: '600000'},
          ],
        }),
      )
      await call('POST', '/v1.41/containers/create?name=killme-1', JSON.stringify({Image: 'killme'}))
      await call('POST', '/v1.41/containers/killme-1/start')
      const c = docker.containers.get('killme-1')!
      await waitUntil(() => api.traces > 0, 10_000, 'the job running')
      expect((await call('DELETE', '/v1.41/containers/killme-1?force=true')).status).toBe(204)
      expect([c.state, c.ran]).toEqual(['exited', {jobId: 8, result: 'error', detail: 'killed'}])
      expect(api.finished).toBe(false)
    } finally {
      await api.close()
    }
  })

  it('references and tags as the engine parses them', () => {
    expect(parseTag('hpd-job-abc-1')).toEqual({ref: 'hpd-job-abc-1:latest'})
    expect(parseTag('127.0.0.1:5000/a/b:v1.2')).toEqual({ref: '127.0.0.1:5000/a/b:v1.2'})
    expect(parseTag('a--b__c.d')).toEqual({ref: 'a--b__c.d:latest'})
    for (const bad of ['-a', 'a-', 'a:', 'a b', 'a/', 'a:-x']) expect(parseTag(bad)).toHaveProperty('error')
    expect(referenceMatches('hpd-job-abc-*', 'hpd-job-abc-12:latest')).toBe(true)
    expect(referenceMatches('hpd-job-abc-*', 'hpd-job-abcd-12:latest')).toBe(false)
    expect(referenceMatches('hpd-*:v1', 'hpd-x:latest')).toBe(false)
  })
})

/** Just enough of GitLab's job API for the simulated inner runner: counts log appends, notes a final state. */
async function jobApi(): Promise<{url: string; traces: number; finished: boolean; close(): Promise<void>}> {
  const state = {traces: 0, finished: false}
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      if (req.method === 'PATCH') {
        state.traces++
        return void res.writeHead(202, {range: '0-1'}).end()
      }
      if (/"state":"(success|failed)"/.test(body)) state.finished = true
      res.writeHead(200).end()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v4`,
    get traces() {
      return state.traces
    },
    get finished() {
      return state.finished
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}

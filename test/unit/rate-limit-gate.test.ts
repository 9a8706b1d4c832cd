import {describe, expect, it} from 'vitest'

import {GitLabClient} from '../../src/core/coordinator/gitlab-client.js'
import type {HttpClient, HttpRequest, HttpResponse} from '../../src/core/coordinator/http-port.js'
import {
  MAX_RATE_LIMIT_WAIT_MS,
  RateLimitGate,
  type RateLimitEpisode,
} from '../../src/core/coordinator/rate-limit-gate.js'
import {ManualClock} from '../helpers/manual-clock.js'

describe('rate-limit gate', () => {
  it('holds back every call of a kind until the time asked, and says so once per episode', async () => {
    const clock = new ManualClock()
    const gate = new RateLimitGate(clock)
    expect(gate.close('k', 3000)).toEqual({key: 'k', waitMs: 3000})
    expect(gate.close('k', 1000)).toBeUndefined() // same episode, and never shortened
    let passed = 0
    void gate.pass('k').then(() => passed++)
    void gate.pass('other').then(() => passed++)
    await clock.advance(2999)
    expect(passed).toBe(1)
    await clock.advance(1)
    expect(passed).toBe(2)
    expect(gate.close('k', 1000)).toEqual({key: 'k', waitMs: 1000}) // a new episode
  })

  it('caps what a broken header asks for', () => {
    const clock = new ManualClock()
    const gate = new RateLimitGate(clock)
    gate.close('k', 10 * 86_400_000)
    expect(gate.heldUntil('k')).toBe(clock.now() + MAX_RATE_LIMIT_WAIT_MS)
  })
})

describe('GitLab client behind a 429', () => {
  it('another call of the same endpoint to the same GitLab waits for the Retry-After of the first', async () => {
    const clock = new ManualClock()
    const sent: Array<{at: number; url: string}> = []
    let refused = false
    const http: HttpClient = {
      async request(req: HttpRequest): Promise<HttpResponse> {
        sent.push({at: clock.now(), url: req.url})
        if (!refused) {
          refused = true
          return {status: 429, body: '{"message":"slow down"}', headers: {'retry-after': '3'}}
        }
        return {status: 200, body: '{"status":"running"}', headers: {'content-type': 'application/json'}}
      },
    }
    const episodes: RateLimitEpisode[] = []
    const c = new GitLabClient({
      http,
      sleep: clock.sleep,
      now: clock.now,
      random: () => 0.5,
      systemId: 'r_0123456789ab',
      info: {name: 'heptapod-paas-runner', version: '0.1.0', revision: 'x', platform: 'linux', architecture: 'amd64'},
      onRateLimited: (e) => episodes.push(e),
    })
    const runner = {url: 'https://gitlab.example.com', token: 'glrt-x', uniqueName: 'x'}
    const t0 = clock.now()
    const first = c.jobStatus(runner, {id: 1, token: 'a'})
    await clock.settle()
    const second = c.jobStatus(runner, {id: 2, token: 'b'})
    await clock.advance(3000)
    await Promise.all([first, second])
    expect(sent.map((s) => s.at - t0)).toEqual([0, 3000, 3000])
    expect(episodes).toHaveLength(1)
    expect(episodes[0]!.key).toBe('https://gitlab.example.com GET /job')
  })
})

import {describe, expect, it} from 'vitest'

import {parseConfig} from '../../src/core/config/parse-config.js'
import {
  formatOwnerMarker,
  ownerFromLabels,
  ownerLabels,
  parseOwnerMarker,
  requireOwner,
  sameOwner,
} from '../../src/core/identity/owner-marker.js'
import {shortToken} from '../../src/core/identity/short-token.js'
import {testExecutors} from '../helpers/executors.js'

describe('short token (the runner unique name)', () => {
  it.each([
    // Written down from the rule GitLab and gitlab-runner apply, not from our code.
    ['glrt-t1_AbCdEfGhIjKlMnOpQrSt', 't1_AbCdEf'],
    ['glrt-t3_zyxwvutsrqponmlkj', 't3_zyxwvu'],
    ['glrt-abcdefghijKLMNOP', 'abcdefghi'],
    ['glrtr-123456789abcdef', '123456789'],
    ['GR1348941abcdef0123456789xyz', 'GR1348941abcdef01'],
    ['zW3kVx9Lq2mN7pR4sT6u', 'zW3kVx9L'], // the original's 20-character tokens: first 8, as the original
  ])('%s → %s', (token, expected) => {
    expect(shortToken(token)).toBe(expected)
  })

  it('two routable tokens of one runner type have different short tokens', () => {
    expect(shortToken('glrt-t1_aaaaaaaaaaaaaaaa')).not.toBe(shortToken('glrt-t1_bbbbbbbbbbbbbbbb'))
  })
})

describe('a config with two glrt-t1_ runners', () => {
  const toml = `
[quota_computation]
  reference_runner = "a"
  reference_flavor = "M"
  reference_jobs_count = 4
[[runners]]
  name = "a"
  url = "https://gitlab.example"
  token = "glrt-t1_AAAAAAxxxxxxxxxxxxxxxx"
  executor = "memory"
[[runners]]
  name = "b"
  url = "https://gitlab.example"
  token = "glrt-t1_BBBBBBxxxxxxxxxxxxxxxx"
  executor = "memory"
`
  it('is accepted, each runner with its own unique name', () => {
    const c = parseConfig(toml, {file: 'c.toml', executors: testExecutors, defaultStateFile: '/s'})
    expect(c.runners.map((r) => r.uniqueName)).toEqual(['t1_AAAAAA', 't1_BBBBBB'])
  })

  it('is refused when the same runner is configured twice, naming the short token', () => {
    const twice = toml.replace('glrt-t1_BBBBBBxxxxxxxxxxxxxxxx', 'glrt-t1_AAAAAAyyyyyyyyyyyyyyyy')
    expect(() => parseConfig(twice, {file: 'c.toml', executors: testExecutors, defaultStateFile: '/s'})).toThrow(
      /runners\[1\]\.token: its short token 't1_AAAAAA'/,
    )
  })
})

describe('ownership marker', () => {
  const m = {systemId: 'r_AbC123xyz', runner: 't1_AbCdEf'}
  it('round-trips through a description and through labels', () => {
    expect(parseOwnerMarker(formatOwnerMarker(m))).toEqual(m)
    expect(ownerFromLabels(ownerLabels(m))).toEqual(m)
  })

  it('reads nothing from foreign text: a bare name, a prefix, trailing words', () => {
    for (const text of [
      'hpd-job-t1_AbCdEf-12',
      '',
      null,
      42,
      `${formatOwnerMarker(m)} extra`,
      `x ${formatOwnerMarker(m)}`,
      'heptapod-paas-runner system= runner=x',
    ]) {
      expect(parseOwnerMarker(text)).toBeUndefined()
    }
    expect(ownerFromLabels({'org.heptapod.paas-runner.runner': 't1_AbCdEf'})).toBeUndefined()
    // Labels come from a foreign API: anything but an object of strings is no marker.
    for (const labels of [null, undefined, 'x', 42, {...ownerLabels(m), 'org.heptapod.paas-runner.runner': 7}])
      expect(ownerFromLabels(labels)).toBeUndefined()
  })

  it('reads a description with blank lines or spaces around the marker (as an API may return it)', () => {
    expect(parseOwnerMarker(`  ${formatOwnerMarker(m)}\n`)).toEqual(m)
  })

  it('refuses to create or sweep without an owner (a bug of the host, never a silent no-marker)', () => {
    expect(() => requireOwner(undefined)).toThrow(expect.objectContaining({code: 'no_owner'}))
    expect(requireOwner(m)).toBe(m)
  })

  it('is ours only when both the system id and the runner match', () => {
    expect(sameOwner(m, m)).toBe(true)
    expect(sameOwner({...m, systemId: 'r_other'}, m)).toBe(false)
    expect(sameOwner({...m, runner: 't1_zzzzzz'}, m)).toBe(false)
    expect(sameOwner(undefined, m)).toBe(false)
  })
})

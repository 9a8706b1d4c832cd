import {describe, expect, it} from 'vitest'

import {REDACTED, Redactor, redactUrlCredentials} from '../../src/core/redact.js'

describe('Redactor', () => {
  it('replaces registered secrets and their URL-encoded form', () => {
    const r = new Redactor()
    r.add('glrt-abc/def+ghi')
    expect(r.redact('token glrt-abc/def+ghi and glrt-abc%2Fdef%2Bghi')).toBe(`token ${REDACTED} and ${REDACTED}`)
  })

  it('collects secrets from secret-looking keys of a structure', () => {
    const r = new Redactor()
    r.addFromObject({
      runners: [
        {token: 'runner-token-1', cache: {s3: {SecretKey: 'sssssecret', AccessKey: 'akakakak'}}, name: 'visible'},
      ],
    })
    expect(r.redact('runner-token-1 sssssecret akakakak visible')).toBe(`${REDACTED} ${REDACTED} ${REDACTED} visible`)
  })

  it('ignores very short values that would mangle text', () => {
    const r = new Redactor()
    r.add('abc')
    expect(r.redact('abc')).toBe('abc')
  })

  it('redacts structures deeply, by key and by value', () => {
    const r = new Redactor()
    r.add('job-token-xyz')
    expect(r.redactValue({token: 'anything', msg: 'uses job-token-xyz', list: ['job-token-xyz']})).toEqual({
      token: REDACTED,
      msg: `uses ${REDACTED}`,
      list: [REDACTED],
    })
  })

  it('strips credentials from URLs', () => {
    expect(redactUrlCredentials('push to https://Jenkins:s3cr3t@push.example/app.git failed')).toBe(
      `push to https://Jenkins:${REDACTED}@push.example/app.git failed`,
    )
  })

  it('redacts the longer of two overlapping secrets whole (no tail left behind)', () => {
    const r = new Redactor()
    r.add('glrt-abcdef')
    r.add('glrt-abcdef-and-more')
    expect(r.redact('x glrt-abcdef-and-more y glrt-abcdef z')).toBe(`x ${REDACTED} y ${REDACTED} z`)
  })

  it('keeps numbers, booleans and null as they are in a structure', () => {
    const r = new Redactor()
    r.add('job-token-xyz')
    expect(r.redactValue({weight: 13.5, ok: true, none: null, nested: [1, false, null, 'job-token-xyz']})).toEqual({
      weight: 13.5,
      ok: true,
      none: null,
      nested: [1, false, null, REDACTED],
    })
  })
})

import {describe, expect, it} from 'vitest'

import {removeRunners, runnerSpans, UnsafeEditError} from '../../src/cli/toml-sections.js'

const FILE = `# head
concurrent = 3 # keep
[quota_computation]
  reference_runner = "a"

# first runner
[[runners]]
  name = "a"
  s = """
[[runners]]
"""
  [runners.docker]
    image = "x"

# second
[[runners]]
  name = "b"   # aligned
  [runners.cc_extra_env]
    A = "1"
[session_server]
  x = 1
`

describe('removing a [[runners]] section byte for byte', () => {
  it('finds each element with its sub-tables, never a header inside a multi-line string', () => {
    expect(runnerSpans(FILE).map((s) => FILE.slice(s.start, s.end).split('\n')[1])).toEqual([
      '  name = "a"',
      '  name = "b"   # aligned',
    ])
  })

  it('removes the first: every other byte stays, the comment of the next section too', () => {
    const out = removeRunners(FILE, [0])
    expect(out).toBe(FILE.replace(/\[\[runners\]\]\n {2}name = "a"[\s\S]*?image = "x"\n/, ''))
    expect(out).toContain('# second\n[[runners]]\n  name = "b"   # aligned')
  })

  it('removes the last, up to the next table, and all of them', () => {
    expect(removeRunners(FILE, [1])).toBe(FILE.replace(/\[\[runners\]\]\n {2}name = "b"[\s\S]*?A = "1"\n/, ''))
    const none = removeRunners(FILE, [0, 1])
    expect(none).toContain('[session_server]')
    expect(none).not.toContain('name =')
  })

  it('refuses what it cannot cut safely (runners as an inline array)', () => {
    expect(() => removeRunners('runners = [{name = "a"}, {name = "b"}]\n', [0])).toThrow(UnsafeEditError)
  })
})

import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {loadWithCodeCache} from '../../src/cli/code-cached-module.js'

describe('loadWithCodeCache', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hpr-code-cache-'))
  const file = join(dir, 'm.cjs')
  const cache = `${file}.v8-cache`

  it('runs the file from a cache made from it, and never from the cache of another source of the same length', () => {
    writeFileSync(file, 'module.exports = {answer: () => "old"}\n')
    const first = loadWithCodeCache(file, cache)!
    expect(first.cache).toBe('absent')
    expect((first.exports.answer as () => string)()).toBe('old')
    writeFileSync(cache, first.createCache())
    expect(loadWithCodeCache(file, cache)!.cache).toBe('accepted')
    // V8 alone would take this cache: it checks the source's length, not its text.
    writeFileSync(file, 'module.exports = {answer: () => "new"}\n')
    const edited = loadWithCodeCache(file, cache)!
    expect(edited.cache).toBe('stale')
    expect((edited.exports.answer as () => string)()).toBe('new')
  })

  it('compiles from source when the cache is not one, and is undefined without the file', () => {
    writeFileSync(file, 'module.exports.n = 1\n')
    writeFileSync(cache, 'not a cache')
    expect(loadWithCodeCache(file, cache)).toMatchObject({cache: 'stale', exports: {n: 1}})
    expect(loadWithCodeCache(join(dir, 'absent.cjs'), cache)).toBeUndefined()
  })
})

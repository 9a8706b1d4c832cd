import {readdirSync, readFileSync, statSync} from 'node:fs'
import {join, relative} from 'node:path'

import {describe, expect, it} from 'vitest'

import {REPO} from './helpers/cli.js'

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n)
    return statSync(p).isDirectory() ? files(p) : /\.tsx?$/.test(n) ? [p] : []
  })
}

describe('architecture', () => {
  it('the core imports no oclif, ink, react, undici or simple-git, and reads no process.env', () => {
    const offenders: string[] = []
    for (const f of files(join(REPO, 'src/core'))) {
      const text = readFileSync(f, 'utf8')
      if (/from\s+['"](@oclif\/[^'"]+|oclif|ink[^'"]*|react[^'"]*|undici|simple-git)['"]/.test(text)) offenders.push(`${relative(REPO, f)}: framework import`)
      if (/process\.env/.test(text)) offenders.push(`${relative(REPO, f)}: process.env`)
    }
    expect(offenders).toEqual([])
  })
})

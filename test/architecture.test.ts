import {readdirSync, readFileSync, statSync} from 'node:fs'
import {dirname, join, relative, resolve, sep} from 'node:path'

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
      if (/from\s+['"](@oclif\/[^'"]+|oclif|ink[^'"]*|react[^'"]*|undici|simple-git)['"]/.test(text))
        offenders.push(`${relative(REPO, f)}: framework import`)
      if (/process\.env/.test(text)) offenders.push(`${relative(REPO, f)}: process.env`)
    }
    expect(offenders).toEqual([])
  })

  it('a bundled plugin imports only the SDK, its own files and npm packages: never the core, the host or another plugin', () => {
    const offenders: string[] = []
    const pluginsDir = join(REPO, 'src/plugins')
    for (const plugin of readdirSync(pluginsDir)) {
      const root = join(pluginsDir, plugin)
      for (const f of files(root)) {
        for (const spec of importsOf(readFileSync(f, 'utf8'))) {
          const bad = spec.startsWith('.')
            ? !(resolve(dirname(f), spec) + sep).startsWith(root + sep)
            : spec === 'heptapod-paas-runner' ||
              spec.startsWith('heptapod-paas-runner/') ||
              (spec.startsWith('@heptapod-paas-runner/') && spec.split('/')[1] !== 'plugin-api')
          if (bad) offenders.push(`${relative(REPO, f)}: imports ${spec}`)
        }
      }
    }
    expect(offenders).toEqual([])
  })

  it('the SDK (packages/plugin-api) imports nothing of the host: it is published on its own', () => {
    const root = join(REPO, 'packages/plugin-api/src')
    const allowed = new Set(['zod', 'smol-toml', 'undici', 'vitest'])
    const offenders: string[] = []
    for (const f of files(root)) {
      for (const spec of importsOf(readFileSync(f, 'utf8'))) {
        const ok = spec.startsWith('.')
          ? (resolve(dirname(f), spec) + sep).startsWith(root + sep)
          : spec.startsWith('node:') || allowed.has(spec)
        if (!ok) offenders.push(`${relative(REPO, f)}: imports ${spec}`)
      }
    }
    expect(offenders).toEqual([])
  })
})

/** Module specifiers of static imports, re-exports and dynamic imports. */
function importsOf(text: string): string[] {
  const specs: string[] = []
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm)) specs.push(m[1]!)
  return specs
}

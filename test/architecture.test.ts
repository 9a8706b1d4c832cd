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

  it('the core imports nothing above it: no adapter, wiring, command, view or simulator', () => {
    const above = ['adapters', 'app', 'cli', 'commands', 'tui', 'sim', 'bench', 'hooks', 'plugins', 'plugin-api'].map(
      (d) => join(REPO, 'src', d) + sep,
    )
    const offenders: string[] = []
    for (const f of files(join(REPO, 'src/core'))) {
      for (const spec of importsOf(readFileSync(f, 'utf8'))) {
        if (
          spec.startsWith('.') &&
          above.some((d) => (resolve(dirname(f), spec) + sep).startsWith(d) || resolve(dirname(f), spec).startsWith(d))
        )
          offenders.push(`${relative(REPO, f)}: imports ${spec}`)
      }
    }
    expect(offenders).toEqual([])
  })

  it('the daemon is built in one place, src/app: no command, view or plugin builds a Dispatcher or starts a daemon', () => {
    const offenders: string[] = []
    for (const dir of ['commands', 'cli', 'tui', 'plugins', 'hooks']) {
      for (const f of files(join(REPO, 'src', dir))) {
        const text = readFileSync(f, 'utf8')
        if (/new Dispatcher\(|startDaemon\(/.test(text)) offenders.push(relative(REPO, f))
      }
    }
    expect(offenders).toEqual([])
  })

  it('the wiring folder src/app holds the daemon builder, the signal helper and withTui', () => {
    const app = join(REPO, 'src/app')
    const text = files(app)
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n')
    expect(text).toMatch(/export async function startDaemon\(/)
    expect(text).toMatch(/export function stopSignals\(/)
    expect(text).toMatch(/export async function withTui</)
  })

  it('a bundled plugin imports only the SDK, its own files and npm packages: never the core, the host or another plugin', () => {
    const offenders: string[] = []
    // The test doubles (memory) are plugins too, linked by the tests: the same rule.
    const roots = ['src/plugins', 'src/test-doubles'].flatMap((d) =>
      readdirSync(join(REPO, d)).map((p) => join(REPO, d, p)),
    )
    for (const root of roots) {
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
  it("no source chooses a zod locale: the status bundle keeps only zod's default English messages (scripts/bundle-status.mjs)", () => {
    const offenders = [...files(join(REPO, 'src')), ...files(join(REPO, 'packages/plugin-api/src'))].filter((f) =>
      /\bz\.(locales|config)\b|from\s+['"]zod\/(v4\/)?locales/.test(readFileSync(f, 'utf8')),
    )
    expect(offenders.map((f) => relative(REPO, f))).toEqual([])
  })
})

/** Module specifiers of static imports, re-exports and dynamic imports. */
function importsOf(text: string): string[] {
  const specs: string[] = []
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm)) specs.push(m[1]!)
  return specs
}

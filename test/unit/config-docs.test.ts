import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {RUNNER_KEYS, documented, keyRows, markdownKeyTable} from '@heptapod-paas-runner/plugin-api'
import {describe, expect, it} from 'vitest'
import {z} from 'zod'

import {GLOBAL_KEYS} from '../../src/core/config/config-schema.js'
import {cleverDockerExecutorFactory} from '../../src/plugins/clever-docker/clever-factory.js'
import {localDockerExecutorFactory} from '../../src/plugins/local-docker/local-docker-factory.js'
import {REPO} from '../helpers/cli.js'

/**
 * The README's key tables are generated from the keys' declarations (schema, default, doc line),
 * between `<!-- config-keys:NAME -->` and `<!-- /config-keys:NAME -->`. This test fails when one
 * is out of date; `UPDATE_README=1 npx vitest run test/unit/config-docs.test.ts` rewrites them.
 */
const TABLES: Record<string, string> = {
  global: markdownKeyTable(keyRows(GLOBAL_KEYS)),
  runners: markdownKeyTable(keyRows(RUNNER_KEYS, {section: 'runners'})),
  'clever-docker': markdownKeyTable(keyRows(cleverDockerExecutorFactory.configSchema.shape, {section: 'runners'})),
  'local-docker': markdownKeyTable(keyRows(localDockerExecutorFactory.configSchema.shape, {section: 'runners'})),
}

const README = join(REPO, 'README.md')

function section(text: string, name: string): {start: number; end: number} | undefined {
  const open = `<!-- config-keys:${name} -->\n`
  const start = text.indexOf(open)
  const end = text.indexOf(`\n<!-- /config-keys:${name} -->`)
  return start < 0 || end < start ? undefined : {start: start + open.length, end}
}

/** The table's cells, trimmed: a formatter may pad the columns. */
function cells(table: string): string[][] {
  return table
    .trim()
    .split('\n')
    .map((line) =>
      line
        .trim()
        .replace(/^\||\|$/g, '')
        .split(/(?<!\\)\|/)
        .map((c) => (/^\s*:?-+:?\s*$/.test(c) ? '---' : c.trim())),
    )
}

describe("README's key tables", () => {
  if (process.env.UPDATE_README) {
    let text = readFileSync(README, 'utf8')
    for (const [name, table] of Object.entries(TABLES)) {
      const at = section(text, name)
      if (at) text = text.slice(0, at.start) + table + text.slice(at.end)
    }
    writeFileSync(README, text)
  }
  const text = readFileSync(README, 'utf8')

  for (const [name, table] of Object.entries(TABLES)) {
    it(`${name}: the table is the keys' declarations (run UPDATE_README=1 npx vitest run test/unit/config-docs.test.ts)`, () => {
      const at = section(text, name)
      expect(at, `README.md has no <!-- config-keys:${name} --> section`).toBeDefined()
      expect(cells(text.slice(at!.start, at!.end))).toEqual(cells(table))
    })
  }

  it('a row shows the default the schema applies, the range it checks and the doc line', () => {
    const rows = keyRows(
      {
        every: documented(z.number().min(0.5).max(60).default(3), 'seconds between two looks'),
        mode: documented(z.enum(['a', 'b']).default('a'), 'how'),
        place: documented(z.string().optional(), 'where', 'the current folder'),
        need: documented(z.string(), 'what'),
        env: documented(z.record(z.string(), z.string()).default({}), 'variables'),
      },
      {section: 'runners'},
    )
    expect(rows).toEqual([
      {key: '`every`', default: '3', meaning: 'seconds between two looks (0.5 … 60)'},
      {key: '`mode`', default: '`a`', meaning: 'how'},
      {key: '`place`', default: 'the current folder', meaning: 'where'},
      {key: '`need`', default: 'required', meaning: 'what'},
      {key: '`[runners.env]`', default: '—', meaning: 'variables'},
    ])
  })

  it('a key without a doc line is refused', () => {
    expect(() => keyRows({bare: z.string()})).toThrow(/bare has no doc line/)
  })
})

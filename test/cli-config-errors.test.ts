import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {BAD_CONFIGS, TOKEN, WATCH_TOKEN} from './helpers/bad-configs.js'
import {runCli} from './helpers/cli.js'

// The CLI has no clever-docker executor installed yet: those cases are covered by the parser tests.
const cases = BAD_CONFIGS.filter((c) => !/clever/.test(c.toml))

describe('a bad configuration stops the CLI with exit code 2 and says where', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hpr-bad-'))
  it.concurrent.each(cases.map((c, i) => ({...c, file: join(dir, `bad-${i}.toml`)})))(
    '$name',
    async ({toml, expect: re, file}) => {
      writeFileSync(file, toml)
      const r = await runCli(['quota', file])
      expect(r.code, r.stderr).toBe(2)
      expect(r.stdout).toBe('')
      const lines = r.stderr.split('\n').map((l) => l.replace(file, 'cfg.toml'))
      expect(
        lines.some((l) => re.test(l)),
        r.stderr,
      ).toBe(true)
      for (const s of [TOKEN, WATCH_TOKEN, 'hunter2hunter2']) expect(r.stderr).not.toContain(s)
    },
  )

  it('a missing file is a configuration error too', async () => {
    const r = await runCli(['quota', join(dir, 'nope.toml')])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('nope.toml: cannot read the configuration file: no such file')
  })
})

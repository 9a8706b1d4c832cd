import {mkdirSync, writeFileSync} from 'node:fs'
import {join, resolve} from 'node:path'

/** The compiled test double (dist/test-doubles/memory), with its package.json. */
const ROOT = resolve(import.meta.dirname)

/**
 * Makes the `memory` executor available to a CLI process run with this oclif data dir
 * (`HEPTAPOD_PAAS_RUNNER_DATA_DIR`), as `plugins link` would: it is a test double, never shipped
 * among the bundled plugins. Returns `dataDir`. Run from the compiled tree (`npm run build`).
 */
export function withMemoryExecutor(dataDir: string): string {
  mkdirSync(dataDir, {recursive: true})
  const root = ROOT.includes(`${join('dist', 'test-doubles')}`)
    ? ROOT
    : ROOT.replace(/([\\/])src([\\/]test-doubles)/, '$1dist$2')
  const pjson = {
    private: true,
    oclif: {schema: 1, plugins: [{name: '@heptapod-paas-runner-test/plugin-memory', root, type: 'link'}]},
  }
  writeFileSync(join(dataDir, 'package.json'), JSON.stringify(pjson))
  return dataDir
}

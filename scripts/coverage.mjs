#!/usr/bin/env node
// `npm run coverage`: the test suite's coverage, including the CLI child processes the tests
// spawn (run, status, quota, register, demo… against the simulators).
//
// 1. vitest measures what runs in its own processes (@vitest/coverage-v8) → coverage/in-process;
// 2. the CLI children write raw V8 coverage (NODE_V8_COVERAGE, set by test/helpers/child-coverage.ts)
//    → coverage/.v8-children; it is merged per script and mapped back from dist/*.js to src/*.ts
//    through tsc's source maps, with the same converter vitest uses (ast-v8-to-istanbul);
// 3. both are merged: coverage/coverage-final.json, an HTML report in coverage/html, and the
//    per-folder table printed (and kept in coverage/summary.md).
//
// Extra arguments go to vitest (`npm run coverage -- test/unit` measures the unit tests only).
// A figure for reading, not a floor: nothing fails on a percentage.
import {spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {dirname, join, relative, resolve} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

import {mergeProcessCovs} from '@bcoe/v8-coverage'
import astV8ToIstanbul from 'ast-v8-to-istanbul'
import libCoverage from 'istanbul-lib-coverage'
import libReport from 'istanbul-lib-report'
import reports from 'istanbul-reports'
import {parseAstAsync} from 'vite'

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const OUT = join(REPO, 'coverage')
const CHILDREN = join(OUT, '.v8-children')
const DIST = join(REPO, 'dist')

rmSync(OUT, {recursive: true, force: true})
mkdirSync(CHILDREN, {recursive: true})

const build = spawnSync('npm', ['run', 'build'], {cwd: REPO, stdio: 'inherit'})
if (build.status !== 0) process.exit(build.status ?? 1)
const tests = spawnSync('npx', ['vitest', 'run', '--coverage', ...process.argv.slice(2)], {
  cwd: REPO,
  stdio: 'inherit',
  env: {...process.env, HPR_CHILD_COVERAGE: CHILDREN},
})

const map = libCoverage.createCoverageMap(
  JSON.parse(readFileSync(join(OUT, 'in-process', 'coverage-final.json'), 'utf8')),
)
const inProcess = summarise(libCoverage.createCoverageMap(map.toJSON()))
map.merge(await childrenCoverage())
writeFileSync(join(OUT, 'coverage-final.json'), JSON.stringify(map.toJSON()))
const context = libReport.createContext({dir: join(OUT, 'html'), coverageMap: map, defaultSummarizer: 'nested'})
reports.create('html').execute(context)

const table = formatTable(summarise(map), inProcess)
writeFileSync(join(OUT, 'summary.md'), table)
console.log(
  `\nCoverage (lines; in-process only in parentheses), CLI child processes included:\n\n${table}\nHTML report: coverage/html/index.html`,
)
process.exit(tests.status ?? 1)

/** The children's raw V8 coverage of dist/**, merged per script, as istanbul coverage of src/**. */
async function childrenCoverage() {
  const processes = []
  for (const f of readdirSync(CHILDREN)) {
    if (!f.endsWith('.json')) continue
    const raw = JSON.parse(readFileSync(join(CHILDREN, f), 'utf8'))
    processes.push({
      result: raw.result.filter((s) => s.url.startsWith(pathToFileURL(DIST).href + '/') && s.url.endsWith('.js')),
    })
  }
  const merged = processes.length > 0 ? mergeProcessCovs(processes) : {result: []}
  const out = libCoverage.createCoverageMap({})
  for (const script of merged.result) {
    const file = fileURLToPath(script.url)
    if (!existsSync(`${file}.map`)) continue
    const code = readFileSync(file, 'utf8')
    const sourceMap = JSON.parse(readFileSync(`${file}.map`, 'utf8'))
    sourceMap.sources = sourceMap.sources.map((s) => new URL(s, script.url).href)
    // Only the sources measured in process count (src/**): not node_modules, not tests.
    if (!sourceMap.sources.every((s) => fileURLToPath(s).startsWith(join(REPO, 'src') + '/'))) continue
    const ast = await parseAstAsync(code)
    out.merge(
      await astV8ToIstanbul({
        code,
        sourceMap,
        ast,
        coverage: {functions: script.functions, url: script.url},
        wrapperLength: 0,
      }),
    )
  }
  console.log(`\ncoverage: ${processes.length} CLI child processes, ${merged.result.length} compiled scripts`)
  return out
}

/** Line coverage per folder of src (one level below src, two for src/core and src/plugins). */
function summarise(coverageMap) {
  const folders = new Map()
  const add = (key, s) => {
    const f = folders.get(key) ?? {covered: 0, total: 0}
    f.covered += s.lines.covered
    f.total += s.lines.total
    folders.set(key, f)
  }
  for (const file of coverageMap.files()) {
    const rel = relative(join(REPO, 'src'), file).split('/')
    const depth = rel[0] === 'core' || rel[0] === 'plugins' || rel[0] === 'adapters' ? 2 : 1
    const key =
      rel.length > depth
        ? `src/${rel.slice(0, depth).join('/')}`
        : `src/${rel.slice(0, rel.length - 1).join('/') || '.'}`
    const s = coverageMap.fileCoverageFor(file).toSummary().toJSON()
    add(key, s)
    add('all of src', s)
  }
  return folders
}

function formatTable(all, inProcess) {
  const pct = (f) => (f && f.total > 0 ? `${((100 * f.covered) / f.total).toFixed(1)} %` : '–')
  const keys = [...all.keys()].filter((k) => k !== 'all of src').sort()
  const rows = [...keys, 'all of src'].map(
    (k) =>
      `| ${k === 'all of src' ? '**all of src**' : `\`${k}\``} | ${pct(all.get(k))} | (${pct(inProcess.get(k))}) | ${all.get(k).total} |`,
  )
  return ['| folder | lines covered | (in-process only) | lines |', '|---|---|---|---|', ...rows, ''].join('\n')
}

import {parse as parseToml, TomlError} from 'smol-toml'
import type {z} from 'zod'

import {ConfigError, type ConfigIssue} from '../errors.js'
import type {ExecutorFactory} from '../executor.js'
import {Redactor} from '../redact.js'
import {renameKeys} from '@heptapod-paas-runner/plugin-api'

import type {Config, RunnerConfig} from './config-types.js'
import {
  commonRunnerSchema,
  GLOBAL_KEYS,
  globalSchema,
  NOT_FORWARDED_RUNNER_KEYS,
  OWN_GLOBAL_KEYS,
  OWN_RUNNER_KEYS,
  RUNNER_KEYS,
} from './config-schema.js'
import {DEPRECATED_GLOBAL_KEYS, DEPRECATED_RUNNER_KEYS, DEPRECATED_TRACE_WATCH_KEYS} from './deprecated-keys.js'
import {didYouMean} from './did-you-mean.js'
import {GITLAB_GLOBAL_KEYS, GITLAB_RUNNER_KEYS} from './gitlab-runner-keys.js'
import {TomlLocator} from './toml-locator.js'
import {shortToken} from '../identity/short-token.js'

export interface ParseConfigOptions {
  /** File name used in messages (`file:line`). */
  file: string
  /** Installed executors, by name. */
  executors: ReadonlyMap<string, ExecutorFactory>
  /** State file used when `state_file` is absent. */
  defaultStateFile: string
  /** Receives every secret found in the file, so nothing prints them afterwards. */
  redactor?: Redactor
}

type Table = Record<string, unknown>

/**
 * TOML text → validated Config. Collects every problem before failing, and throws one
 * ConfigError listing them all (`file:line: key.path: message`). Warnings (deprecated
 * spellings, unknown keys) are returned in `config.warnings`. Secrets never appear in messages.
 */
export function parseConfig(text: string, opts: ParseConfigOptions): Config {
  const redactor = opts.redactor ?? new Redactor()
  let doc: Table
  try {
    doc = parseToml(text) as Table
  } catch (error) {
    if (error instanceof TomlError) {
      const short = error.message.split('\n\n')[0]!.replace(/^Invalid TOML document:\s*/, '')
      throw new ConfigError(opts.file, [
        {path: '', message: `TOML syntax error: ${short}`, line: error.line, column: error.column},
      ])
    }
    throw error
  }
  redactor.addFromObject(doc)
  redactor.add(urlPassword(doc.state_url))
  for (const f of opts.executors.values()) {
    for (const r of Array.isArray(doc.runners) ? doc.runners : []) {
      if (r && typeof r === 'object')
        for (const k of f.secretKeys ?? []) redactor.add(stringOrUndefined((r as Table)[k]))
    }
  }

  const errors: ConfigIssue[] = []
  const warnings: ConfigIssue[] = []
  const global: Table = {...doc}

  renameDeprecated(global, DEPRECATED_GLOBAL_KEYS, '', errors, warnings)
  // The README shows `[job_trace_watch]` where TOML makes it a top-level table: apply it to every runner.
  let sharedTraceWatch: Table | undefined
  if ('job_trace_watch' in global) {
    const v = global.job_trace_watch
    delete global.job_trace_watch
    if (isTable(v)) {
      sharedTraceWatch = v
      warnings.push({
        path: 'job_trace_watch',
        message:
          'deprecated spelling from the original README: write it as [runners.paas_job_trace_watch] in each runner; applied to every runner without one',
      })
    } else errors.push({path: 'job_trace_watch', message: 'must be a table'})
  }

  const knownGlobal = new Set([...OWN_GLOBAL_KEYS, ...GITLAB_GLOBAL_KEYS])
  for (const key of Object.keys(global)) {
    if (!knownGlobal.has(key)) warnings.push(unknownKey('', key, knownGlobal))
  }

  const g = globalSchema.safeParse(global)
  // Issues inside a runner's table are parseRunner's; one about the entry itself (not a table) is kept.
  if (!g.success) errors.push(...zodIssues(g.error, '').filter((i) => !/^runners\[\d+\]./.test(i.path)))

  const runners: RunnerConfig[] = []
  const rawRunners = Array.isArray(global.runners) ? global.runners : []
  rawRunners.forEach((raw, index) => {
    if (!isTable(raw)) return // reported by the global schema
    const r = parseRunner(raw, index, opts.executors, sharedTraceWatch, errors, warnings)
    if (r) runners.push(r)
  })

  checkRunnerSet(runners, errors, warnings)

  if (global.state_file !== undefined && global.state_url !== undefined) {
    errors.push({
      path: 'state_url',
      message:
        'state_file and state_url are mutually exclusive: the file journal (one daemon) or PostgreSQL (state_url), not both',
    })
  }

  if (g.success) {
    const qc = g.data.quota_computation
    const ref = runners.find((r) => r.name === qc.referenceRunner)
    const names = runners.map((r) => r.name).filter((n): n is string => n !== undefined)
    if (runners.length === rawRunners.length && !ref) {
      const hint = didYouMean(qc.referenceRunner, names)
      errors.push({
        path: 'quota_computation.reference_runner',
        message:
          `no [[runners]] section is named '${qc.referenceRunner}'` +
          (hint ? `; did you mean '${hint}'?` : '') +
          `; runner names: ${names.length ? names.map((n) => `'${n}'`).join(', ') : '(none has a name)'}`,
      })
    }
    const staticFlavors = ref ? opts.executors.get(ref.executor)?.staticFlavors : undefined
    if (staticFlavors && !staticFlavors.some((f) => f.name === qc.referenceFlavor)) {
      errors.push({
        path: 'quota_computation.reference_flavor',
        message: `runner '${qc.referenceRunner}' (executor ${ref!.executor}) has no flavor '${qc.referenceFlavor}'; its flavors: ${staticFlavors.map((f) => f.name).join(', ')}`,
      })
    }
  }

  const locator = new TomlLocator(text)
  const finish = (issues: ConfigIssue[]): ConfigIssue[] =>
    issues.map((i) => {
      const loc = i.line === undefined ? locator.locate(i.path) : undefined
      // One line per issue, whatever the file's strings hold.
      return {...i, message: escapeControls(redactor.redact(i.message)), ...(loc ? {line: loc.line} : {})}
    })

  if (errors.length > 0 || !g.success)
    throw new ConfigError(
      opts.file,
      finish(errors.length > 0 ? errors : [{path: '', message: 'invalid configuration'}]),
    )
  return {
    ...renameKeys(GLOBAL_KEYS, g.data),
    file: opts.file,
    stateFile: g.data.state_file ?? opts.defaultStateFile,
    runners,
    warnings: finish(warnings),
  }
}

function parseRunner(
  source: Table,
  index: number,
  executors: ReadonlyMap<string, ExecutorFactory>,
  sharedTraceWatch: Table | undefined,
  errors: ConfigIssue[],
  warnings: ConfigIssue[],
): RunnerConfig | undefined {
  const at = `runners[${index}]`
  const raw: Table = {...source}
  const before = errors.length
  renameDeprecated(raw, DEPRECATED_RUNNER_KEYS, at, errors, warnings)
  if (raw.paas_job_trace_watch === undefined && sharedTraceWatch) raw.paas_job_trace_watch = sharedTraceWatch
  if (isTable(raw.paas_job_trace_watch)) {
    raw.paas_job_trace_watch = {...raw.paas_job_trace_watch}
    renameDeprecated(
      raw.paas_job_trace_watch as Table,
      DEPRECATED_TRACE_WATCH_KEYS,
      `${at}.paas_job_trace_watch`,
      errors,
      warnings,
    )
  }

  const common = commonRunnerSchema.safeParse(pick(raw, OWN_RUNNER_KEYS))
  if (!common.success) errors.push(...zodIssues(common.error, at))

  const executorName = typeof raw.executor === 'string' ? raw.executor : undefined
  const factory = executorName === undefined ? undefined : executors.get(executorName)
  if (executorName !== undefined && !factory) {
    const installed = [...executors.keys()]
    const hint = didYouMean(executorName, installed)
    errors.push({
      path: `${at}.executor`,
      message:
        `unknown executor '${executorName}'` +
        (hint ? `; did you mean '${hint}'?` : '') +
        `; installed executors: ${installed.length ? installed.join(', ') : '(none)'} (add more with \`heptapod-paas-runner plugins install\`)`,
    })
  }

  const executorKeys = factory ? Object.keys(factory.configSchema.shape) : []
  let executorConfig: Record<string, unknown> = {}
  if (factory) {
    const e = factory.configSchema.safeParse(pick(raw, executorKeys))
    if (e.success) executorConfig = e.data
    else errors.push(...zodIssues(e.error, at))
  }

  const known = new Set([...OWN_RUNNER_KEYS, ...executorKeys, ...GITLAB_RUNNER_KEYS])
  for (const key of Object.keys(raw)) {
    if (known.has(key)) continue
    if (!factory && executorName !== undefined) continue // keys of an executor we do not know: the executor error says it all
    warnings.push(unknownKey(at, key, known, factory ? `(executor ${factory.name})` : undefined))
  }

  if (errors.length > before || !common.success) return undefined
  const notForwarded = new Set([...NOT_FORWARDED_RUNNER_KEYS, ...executorKeys])
  const forwarded = Object.fromEntries(
    Object.entries(source).filter(([k]) => !notForwarded.has(k) && !k.startsWith('paas_')),
  )
  return {
    ...renameKeys(RUNNER_KEYS, common.data),
    index,
    uniqueName: shortToken(common.data.token),
    executorConfig,
    forwarded,
  }
}

function checkRunnerSet(runners: RunnerConfig[], errors: ConfigIssue[], warnings: ConfigIssue[]): void {
  const byUnique = new Map<string, RunnerConfig>()
  const byName = new Map<string, RunnerConfig>()
  for (const r of runners) {
    const other = byUnique.get(r.uniqueName)
    if (other) {
      errors.push({
        path: `runners[${r.index}].token`,
        message:
          `its short token '${r.uniqueName}' (as GitLab shows it in its runner list) is the same as runners[${other.index}]'s; ` +
          "the short token names PAAS resources and state records, so the two runners would take each other's resources. Is the same runner configured twice?",
      })
    } else byUnique.set(r.uniqueName, r)
    if (r.name !== undefined) {
      const same = byName.get(r.name)
      if (same)
        warnings.push({
          path: `runners[${r.index}].name`,
          message: `'${r.name}' is also the name of runners[${same.index}]; [quota_computation] uses the first one`,
        })
      else byName.set(r.name, r)
    }
  }
}

function renameDeprecated(
  table: Table,
  aliases: Readonly<Record<string, string>>,
  at: string,
  errors: ConfigIssue[],
  warnings: ConfigIssue[],
): void {
  for (const [old, current] of Object.entries(aliases)) {
    if (!(old in table)) continue
    const path = at ? `${at}.${old}` : old
    if (current in table) {
      errors.push({
        path,
        message: `both '${old}' (deprecated spelling) and '${current}' are set; keep only '${current}'`,
      })
    } else {
      warnings.push({path, message: `deprecated spelling from the original README; write '${current}' instead`})
      table[current] = table[old]
    }
    delete table[old]
  }
}

function unknownKey(at: string, key: string, known: Iterable<string>, where?: string): ConfigIssue {
  const hint = didYouMean(key, known)
  return {
    path: at ? `${at}.${key}` : key,
    message: `unknown key${where ? ` ${where}` : ''}, ignored` + (hint ? `; did you mean '${hint}'?` : ''),
  }
}

/** zod issues → ConfigIssues with `a.b[0].c` paths. Never includes the offending value. */
function zodIssues(error: z.ZodError, at: string): ConfigIssue[] {
  return error.issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((k) => ({path: joinPath(at, [...issue.path, k]), message: 'unknown key'}))
    }
    return [{path: joinPath(at, issue.path), message: issue.message}]
  })
}

function joinPath(at: string, path: readonly PropertyKey[]): string {
  let out = at
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p)
  return out
}

function pick(table: Table, keys: readonly string[]): Table {
  const out: Table = {}
  for (const k of keys) if (k in table) out[k] = table[k]
  return out
}

/** `\n` for a newline and so on: messages quote values from the file. */
function escapeControls(text: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what it escapes
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1))
}

function isTable(v: unknown): v is Table {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date)
}

function stringOrUndefined(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined
}

/** The password of a `state_url`, which must never be printed. */
function urlPassword(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined
  try {
    const p = new URL(v).password
    return p ? decodeURIComponent(p) : undefined
  } catch {
    return undefined
  }
}

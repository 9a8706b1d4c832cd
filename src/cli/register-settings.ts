import type {z} from 'zod'

import {commonRunnerSchema, globalSchema} from '../core/config/config-schema.js'
import {didYouMean} from '../core/config/did-you-mean.js'
import {GITLAB_RUNNER_KEYS} from '../core/config/gitlab-runner-keys.js'
import {PaasRunnerError} from '../core/errors.js'
import type {ExecutorFactory} from '../core/executor.js'

/** A mistake in what was asked of `register` (a flag, a `--set`): exit 2, nothing contacted, nothing written. */
export class RegisterUsageError extends PaasRunnerError {
  constructor(message: string) {
    super('register_usage', message)
  }
}

/** Keys `register` writes itself: a `--set` of one of them would contradict a flag. */
const MANAGED_RUNNER_KEYS = new Set(['name', 'url', 'token', 'executor', 'id', 'token_obtained_at', 'token_expires_at'])
/** Global keys that have their own flag or their own section. */
const MANAGED_GLOBAL_KEYS = new Set(['runners', 'quota_computation'])

/** `--set KEY=VALUE` values, sorted by where they go. */
export interface SortedSettings {
  /** Keys of the `[[runners]]` section (executor, common and GitLab Runner keys), typed. */
  runner: Record<string, unknown>
  /** Global keys (a new file only), typed. */
  global: Record<string, unknown>
}

/** `KEY=VALUE` → [KEY, VALUE]; a usage error otherwise. */
export function splitSetting(kv: string): [string, string] {
  const i = kv.indexOf('=')
  if (i <= 0) throw new RegisterUsageError(`--set expects KEY=VALUE, got ${JSON.stringify(kv.replace(/=.*/s, '=…'))}`)
  return [kv.slice(0, i).trim(), kv.slice(i + 1)]
}

/**
 * Checks each `--set` key against the executor's schema, the common runner keys, GitLab Runner's
 * runner keys and the global schema, and types each value by the schema of its key (a string,
 * else a number, else a boolean). `executor` undefined: the keys of every installed executor are
 * accepted (the executor is asked later; the keys are checked again then). A dotted key
 * (`cc_extra_env.FOO=bar`) sets one entry of a table. Throws RegisterUsageError with a "did you
 * mean" hint; never echoes a value.
 */
export function sortSettings(
  settings: ReadonlyArray<[string, string]>,
  executors: ReadonlyMap<string, ExecutorFactory>,
  executor: string | undefined,
): SortedSettings {
  const factories =
    executor === undefined
      ? [...executors.values()]
      : [executors.get(executor)].filter((f): f is ExecutorFactory => f !== undefined)
  const executorShapes = factories.map((f) => f.configSchema.shape as Record<string, z.ZodType>)
  const commonShape = commonRunnerSchema.shape as Record<string, z.ZodType>
  const globalShape = globalSchema.shape as Record<string, z.ZodType>
  const runnerKeys = new Set<string>([
    ...executorShapes.flatMap((s) => Object.keys(s)),
    ...Object.keys(commonShape).filter((k) => !MANAGED_RUNNER_KEYS.has(k)),
    ...GITLAB_RUNNER_KEYS.filter((k) => !MANAGED_RUNNER_KEYS.has(k)),
  ])
  const globalKeys = new Set(Object.keys(globalShape).filter((k) => !MANAGED_GLOBAL_KEYS.has(k)))
  const out: SortedSettings = {runner: {}, global: {}}
  for (const [fullKey, raw] of settings) {
    const [key, ...sub] = fullKey.split('.')
    if (!key || sub.some((s) => s === '')) throw new RegisterUsageError(`--set ${fullKey}: not a key`)
    if (MANAGED_RUNNER_KEYS.has(key))
      throw new RegisterUsageError(
        `--set ${key}: register writes it itself; use --${key === 'url' ? 'url' : key === 'token' ? 'token' : key === 'executor' ? 'executor' : 'name'} where there is such a flag`,
      )
    if (MANAGED_GLOBAL_KEYS.has(key))
      throw new RegisterUsageError(
        `--set ${key}: ${key === 'quota_computation' ? 'register sizes [quota_computation] itself: use --max-flavor and --max-flavor-jobs' : 'not a key of one runner'}`,
      )
    const isRunner = runnerKeys.has(key)
    if (!isRunner && !globalKeys.has(key)) {
      const hint = didYouMean(key, [...runnerKeys, ...globalKeys])
      const where = executor === undefined ? 'of any installed executor' : `of executor ${executor}`
      throw new RegisterUsageError(
        `--set ${key}: unknown key (not a global key, a runner key, nor a key ${where})${hint ? `; did you mean '${hint}'?` : ''}`,
      )
    }
    const field = isRunner
      ? (executorShapes.map((s) => s[key]).find((f) => f !== undefined) ?? commonShape[key])
      : globalShape[key]
    const target = isRunner ? out.runner : out.global
    if (sub.length > 0) {
      const table = (typeof target[key] === 'object' && target[key] !== null ? target[key] : {}) as Record<
        string,
        unknown
      >
      let at = table
      for (const s of sub.slice(0, -1))
        at = (at[s] = typeof at[s] === 'object' && at[s] !== null ? at[s] : {}) as Record<string, unknown>
      // A table with a schema (environment variables…) takes the text as written when it can.
      at[sub.at(-1)!] = field ? raw : untyped(raw)
      if (field && !field.safeParse(table).success) {
        at[sub.at(-1)!] = untyped(raw)
        if (!field.safeParse(table).success)
          throw new RegisterUsageError(`--set ${fullKey}: not a valid entry of ${key}`)
      }
      target[key] = table
      continue
    }
    target[key] = field ? typed(fullKey, raw, field) : untyped(raw)
  }
  return out
}

/** The first reading of `raw` the schema accepts: as written, as a number, as a boolean. */
function typed(key: string, raw: string, field: z.ZodType): unknown {
  const candidates: unknown[] = [raw]
  if (raw.trim() !== '' && Number.isFinite(Number(raw))) candidates.push(Number(raw))
  if (/^(true|false)$/i.test(raw.trim())) candidates.push(raw.trim().toLowerCase() === 'true')
  let message = ''
  for (const c of candidates) {
    const r = field.safeParse(c)
    if (r.success) return c
    message ||= r.error.issues[0]?.message ?? 'invalid'
  }
  throw new RegisterUsageError(`--set ${key}: ${message}`)
}

/** A value for a key without a schema (GitLab Runner's): TOML's reading of a bare word. */
function untyped(raw: string): unknown {
  const t = raw.trim()
  if (/^(true|false)$/.test(t)) return t === 'true'
  if (/^-?\d+(\.\d+)?$/.test(t)) return Number(t)
  return raw
}

import type {z} from 'zod'

import {keyDoc, type ConfigKey, type ConfigKeys} from './config-keys.js'

/** One row of a README key table. */
export interface KeyRow {
  key: string
  default: string
  meaning: string
}

/**
 * The rows of a key table, from the keys' declarations: the default from the schema (or its
 * `defaultText`), the range of a number from its checks, the meaning from its doc line. `section`
 * is the TOML table the keys sit in (`runners` for `[[runners]]`), for table-valued keys.
 * `keys`: declared keys (`GLOBAL_KEYS`, `RUNNER_KEYS`) or an executor's `configSchema.shape`.
 */
export function keyRows(
  keys: ConfigKeys | Readonly<Record<string, z.core.$ZodType>>,
  o: {section?: string; prefix?: string} = {},
): KeyRow[] {
  return Object.entries(keys).flatMap(([name, k]) => {
    const decl: ConfigKey = isConfigKey(k) ? k : {prop: name, schema: k as z.ZodType}
    const doc = keyDoc(decl.schema)
    if (!doc)
      throw new Error(`config key ${o.prefix ?? ''}${name} has no doc line: declare it with documented(schema, '…')`)
    const inner = unwrap(decl.schema)
    const isTable = decl.keys !== undefined || inner.def.type === 'record' || inner.def.type === 'object'
    const path = `${o.prefix ?? ''}${name}`
    const key = isTable && !o.prefix ? `\`[${o.section ? `${o.section}.` : ''}${name}]\`` : `\`${path}\``
    const row = {key, default: doc.defaultText ?? defaultOf(decl.schema), meaning: doc.description + range(inner)}
    return decl.keys ? [row, ...keyRows(decl.keys, {...o, prefix: `${path}.`})] : [row]
  })
}

/** A markdown table of rows, as the README shows it. */
export function markdownKeyTable(rows: readonly KeyRow[]): string {
  const escape = (s: string): string => s.replaceAll('|', '\\|')
  return [
    '| key | default | meaning |',
    '|---|---|---|',
    ...rows.map((r) => `| ${r.key} | ${escape(r.default)} | ${escape(r.meaning)} |`),
  ].join('\n')
}

function isConfigKey(v: unknown): v is ConfigKey {
  return typeof v === 'object' && v !== null && 'prop' in v && 'schema' in v
}

type Def = {
  type: string
  innerType?: z.ZodType
  in?: z.ZodType
  defaultValue?: unknown
  checks?: Array<{_zod: {def: {check: string; value?: unknown; inclusive?: boolean}}}>
}

/** The schema under optional, default and transform wrappers. */
function unwrap(schema: z.ZodType): z.ZodType & {def: Def} {
  let s = schema as z.ZodType & {def: Def}
  for (;;) {
    const next = s.def.type === 'pipe' ? s.def.in : s.def.innerType
    if (!next || !['optional', 'default', 'pipe', 'nullable', 'prefault'].includes(s.def.type)) return s
    s = next as z.ZodType & {def: Def}
  }
}

function defaultOf(schema: z.ZodType): string {
  let s = schema as z.ZodType & {def: Def}
  for (;;) {
    if (s.def.type === 'default') return formatValue(s.def.defaultValue)
    if (s.def.type === 'optional') return '—'
    const next = s.def.type === 'pipe' ? s.def.in : s.def.innerType
    if (!next) return 'required'
    s = next as z.ZodType & {def: Def}
  }
}

function formatValue(v: unknown): string {
  if (typeof v === 'string') return `\`${v}\``
  if (typeof v === 'object' && v !== null && Object.keys(v).length === 0) return '—'
  return String(v)
}

/** ` (min … max)` of a number, from its checks. */
function range(s: z.ZodType & {def: Def}): string {
  if (s.def.type !== 'number') return ''
  let min: {value: number; inclusive: boolean} | undefined
  let max: number | undefined
  for (const c of s.def.checks ?? []) {
    const d = c._zod.def
    if (d.check === 'greater_than' && typeof d.value === 'number')
      min = {value: d.value, inclusive: d.inclusive !== false}
    if (d.check === 'less_than' && typeof d.value === 'number') max = d.value
  }
  if (!min || max === undefined || max >= Number.MAX_SAFE_INTEGER) return ''
  return min.inclusive ? ` (${min.value} … ${max})` : ` (above ${min.value}, at most ${max})`
}

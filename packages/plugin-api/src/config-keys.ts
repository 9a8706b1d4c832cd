import {z} from 'zod'

/**
 * One configuration key, declared once: its TOML name is the key of the map it sits in, `prop` the
 * property the parsed value lands in, and `schema` its type, range and default. The doc line
 * travels on the schema (`.meta({description, defaultText})`), and the README's key tables are
 * checked against it. `keys` is set for a key that is a table of keys of its own.
 */
export interface ConfigKey<P extends string = string, S extends z.ZodType = z.ZodType> {
  readonly prop: P
  readonly schema: S
  readonly keys?: ConfigKeys
}

export type ConfigKeys = {readonly [toml: string]: ConfigKey}

/** What a key's doc line holds (zod metadata, `schema.meta()`). */
export interface KeyDoc {
  /** One sentence for the README table and `--help`. */
  description: string
  /** The default as people read it, when the schema's own default cannot say it (computed, or "off"). */
  defaultText?: string
}

/** Documents a schema: its doc line and, when the schema's default does not say it, the default as text. */
export function documented<S extends z.ZodType>(schema: S, description: string, defaultText?: string): S {
  const doc: KeyDoc & Record<string, unknown> = defaultText === undefined ? {description} : {description, defaultText}
  return schema.meta(doc) as S
}

/**
 * Declares a key: the property it becomes and its schema (documented with `documented`). `keys`:
 * the keys of a table-valued key, whose schema is `tableSchema(keys, …)`.
 */
export function configKey<P extends string, S extends z.ZodType>(
  prop: P,
  schema: S,
  keys?: ConfigKeys,
): ConfigKey<P, S> {
  return keys ? {prop, schema, keys} : {prop, schema}
}

type Output<K> = K extends ConfigKey<string, infer S> ? z.output<S> : never
type Prop<K> = K extends ConfigKey<infer P> ? P : never
type Simplify<T> = {[K in keyof T]: T[K]} & {}

/** The parsed values of declared keys, by property name; keys whose value may be absent are optional. */
export type ConfigOf<T extends ConfigKeys> = Simplify<
  {[K in keyof T as undefined extends Output<T[K]> ? never : Prop<T[K]>]: Output<T[K]>} & {
    [K in keyof T as undefined extends Output<T[K]> ? Prop<T[K]> : never]?: Exclude<Output<T[K]>, undefined>
  }
>

/** The zod shape of declared keys, by TOML name. */
export type ShapeOf<T extends ConfigKeys> = {[K in keyof T]: T[K]['schema']}

export function shapeOf<T extends ConfigKeys>(keys: T): ShapeOf<T> {
  return Object.fromEntries(Object.entries(keys).map(([k, d]) => [k, d.schema])) as ShapeOf<T>
}

/** TOML names → property names; absent values are left out. */
export function renameKeys<T extends ConfigKeys>(keys: T, data: Record<string, unknown>): ConfigOf<T> {
  const out: Record<string, unknown> = {}
  for (const [k, d] of Object.entries(keys)) if (data[k] !== undefined) out[d.prop] = data[k]
  return out as ConfigOf<T>
}

/**
 * The schema of a table of keys (`[quota_computation]`, `[runners.paas_job_trace_watch]`): each key
 * parsed by its own schema, then renamed to its property. `strict`: an unknown key inside is an error.
 */
export function tableSchema<T extends ConfigKeys>(
  keys: T,
  o: {description: string; strict?: boolean; error?: (issue: {input: unknown}) => string},
): z.ZodPipe<z.ZodObject<ShapeOf<T>>, z.ZodTransform<ConfigOf<T>>> {
  const params = o.error ? {error: o.error} : undefined
  const object = o.strict ? z.strictObject(shapeOf(keys), params) : z.object(shapeOf(keys), params)
  return documented(
    object.transform((d) => renameKeys(keys, d as Record<string, unknown>)),
    o.description,
  ) as never
}

/** The doc line of a schema, looked for through its wrappers (optional, default, transform). */
export function keyDoc(schema: z.ZodType): KeyDoc | undefined {
  let s: z.ZodType | undefined = schema
  for (let depth = 0; s && depth < 8; depth++) {
    const meta = s.meta() as Partial<KeyDoc> | undefined
    if (meta?.description !== undefined)
      return {description: meta.description, ...(meta.defaultText === undefined ? {} : {defaultText: meta.defaultText})}
    const def = s.def as {innerType?: z.ZodType; in?: z.ZodType}
    s = def.innerType ?? def.in
  }
  return undefined
}

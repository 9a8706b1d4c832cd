import {flavorsOf, SIM_ZONES, type CleverFlavor, type VariantRule} from './clever-catalogue.js'

export interface CreateSpec {
  name: string
  description: string
  zone: string
  rule: VariantRule
  instanceVersion: string
  lifetime: 'REGULAR' | 'MIGRATION' | 'TASK'
  minFlavor: CleverFlavor
  maxFlavor: CleverFlavor
  minInstances: number
  maxInstances: number
  tags: string[]
  env: Record<string, string>
}

/** A refusal in Clever's v2 error shape (clever-api.md §4.1). */
export interface CleverRefusal {
  status: number
  id: number
  message: string
  fields?: Record<string, string>
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
/** Env var names Clever accepts (the client's permissive rule, clever-api.md §3.7). */
export const ENV_NAME = /^[a-zA-Z0-9-_.]+$/
/** Tags: URL-safe without encoding (clever-api.md §6.2 leaves the real rule open). */
export const TAG = /^[a-zA-Z0-9-_.:]{1,64}$/

/**
 * Validates a create body as Clever Cloud does (clever-api.md §3.1): the runtime must exist in
 * the catalogue (else 400/9017), fields must be well-formed (400 with `fields`), flavors must be
 * those of the variant (its flavor context) and available. Unknown keys are ignored; absent
 * `zone`/`deploy`/instance counts take Clever's defaults.
 */
export function validateCreate(
  b: Record<string, unknown>,
  cat: {versions: readonly string[]; variants: readonly VariantRule[]; flavors: readonly CleverFlavor[]},
): CreateSpec | CleverRefusal {
  const fields: Record<string, string> = {}
  const name = typeof b.name === 'string' ? b.name.trim() : ''
  if (!name) fields.name = 'must be a non-empty string'
  else if (name.length > 255) fields.name = 'must be at most 255 characters'
  if (b.description !== undefined && typeof b.description !== 'string') fields.description = 'must be a string'
  const zone = b.zone === undefined ? 'par' : String(b.zone)
  if (!(SIM_ZONES as readonly string[]).includes(zone)) fields.zone = `unknown zone '${zone}'`
  if (b.deploy !== undefined && b.deploy !== 'git')
    fields.deploy = `deployment type '${String(b.deploy)}' is not available for docker (only git)`
  const lifetime = b.instanceLifetime === undefined ? 'REGULAR' : String(b.instanceLifetime)
  if (!['REGULAR', 'MIGRATION', 'TASK'].includes(lifetime))
    fields.instanceLifetime = 'must be REGULAR, MIGRATION or TASK'
  const count = (k: 'minInstances' | 'maxInstances'): number => {
    const v = b[k] === undefined ? 1 : b[k]
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 40) fields[k] = 'must be an integer from 1 to 40'
    return typeof v === 'number' ? v : 1
  }
  const minInstances = count('minInstances')
  const maxInstances = count('maxInstances')
  if (minInstances > maxInstances) fields.minInstances = 'must not exceed maxInstances'
  const variantId = typeof b.instanceVariant === 'string' ? b.instanceVariant : ''
  if (!UUID.test(variantId)) fields.instanceVariant = 'must be a UUID'
  const tags = b.tags === undefined ? [] : b.tags
  if (!Array.isArray(tags) || tags.some((t) => typeof t !== 'string' || !TAG.test(t)))
    fields.tags = 'must be a list of tags made of letters, digits and -_.:'
  const env = b.env === undefined ? {} : b.env
  if (!env || typeof env !== 'object' || Array.isArray(env)) fields.env = 'must be an object of name to value'
  else for (const k of Object.keys(env)) if (!ENV_NAME.test(k)) fields[`env.${k}`] = 'invalid name'
  if (Object.keys(fields).length > 0) return {status: 400, id: 4001, message: 'Invalid application', fields}

  const rule = cat.variants.find((r) => r.variant.id === variantId.toLowerCase())
  if (b.instanceType !== 'docker' || !cat.versions.includes(String(b.instanceVersion)) || !rule) {
    return {status: 400, id: 9017, message: 'The specified instance does not exist'}
  }
  const own = flavorsOf(rule, cat.flavors)
  const flavor = (k: 'minFlavor' | 'maxFlavor'): CleverFlavor | undefined => {
    // Clever takes flavor names case-insensitively (its own e2e tests send "xs").
    const f = own.find((x) => x.name.toLowerCase() === String(b[k] ?? '').toLowerCase())
    if (!f)
      fields[k] =
        `flavor '${String(b[k])}' does not exist for this instance${rule.flavorContext ? ` (context ${rule.flavorContext})` : ''}`
    else if (!f.available) fields[k] = `flavor '${f.name}' is not available`
    return f
  }
  const minFlavor = flavor('minFlavor')
  const maxFlavor = flavor('maxFlavor')
  if (minFlavor && maxFlavor && minFlavor.mem > maxFlavor.mem) fields.minFlavor = 'must not be larger than maxFlavor'
  if (Object.keys(fields).length > 0) return {status: 400, id: 4028, message: 'Invalid flavor', fields}
  return {
    name,
    description: typeof b.description === 'string' ? b.description : '',
    zone,
    rule,
    instanceVersion: String(b.instanceVersion),
    lifetime: lifetime as CreateSpec['lifetime'],
    minFlavor: minFlavor!,
    maxFlavor: maxFlavor!,
    minInstances,
    maxInstances,
    tags: [...new Set(tags as string[])],
    env: Object.fromEntries(Object.entries(env as Record<string, unknown>).map(([k, v]) => [k, String(v)])),
  }
}

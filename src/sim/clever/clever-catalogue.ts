/**
 * The Clever Cloud product catalogue the simulator serves: zones, Docker variants and flavors,
 * with the wire shapes of clever-api.md §2. Which flavors a variant takes and which environment
 * its deployments need are modelled here too (the heptapod-runner variant takes only the
 * `heptapod-runner-*` flavors and needs `CC_ENABLE_HEPTAPOD_RUNNER=true`).
 */

export interface CleverFlavor {
  name: string
  mem: number
  cpus: number
  available: boolean
}

export interface SimVariant {
  id: string
  slug: string
  name: string
  deployType: string
  logo: string
}

/** A variant the simulator knows, with the flavors it accepts and the environment its deployments need. */
export interface VariantRule {
  variant: SimVariant
  /** `null`: the standard flavors (no context prefix); otherwise only `<context>-<SIZE>` flavors. */
  flavorContext: string | null
  /** Listed in `GET /products/instances` (the public catalogue); private variants are not. */
  public: boolean
  /** Environment entries a deployment of this variant needs to run its task. */
  requiredEnv: Record<string, string>
}

/** Zones known to clever-tools (clever-api.md §3.1). */
export const SIM_ZONES = ['par', 'parhds', 'grahds', 'rbx', 'rbxhds', 'scw', 'ldn', 'mtl', 'sgp', 'syd', 'wsw'] as const

export const DOCKER_VARIANT: SimVariant = {
  id: 'a8b7c6d5-1e2f-4a3b-9c8d-7e6f5a4b3c2d',
  slug: 'docker',
  name: 'Docker',
  deployType: 'docker',
  logo: '',
}
/** The private "Heptapod Runner" variant of Docker (the original's default `cc_instance_variant_uuid`). */
export const HEPTAPOD_VARIANT: SimVariant = {
  id: '70d676a0-a775-4dc9-a43d-3121036e8515',
  slug: 'heptapod-runner',
  name: 'Heptapod Runner',
  deployType: 'docker',
  logo: '',
}

export const SIM_VARIANTS: VariantRule[] = [
  {variant: DOCKER_VARIANT, flavorContext: null, public: true, requiredEnv: {}},
  {
    variant: HEPTAPOD_VARIANT,
    flavorContext: 'heptapod-runner',
    public: false,
    requiredEnv: {CC_ENABLE_HEPTAPOD_RUNNER: 'true'},
  },
]

/** heptapod-runner variant flavors (clever-api.md §2.4) plus the standard ones, and an unavailable size. */
export const SIM_FLAVORS: CleverFlavor[] = [
  ...[
    ['nano', 512, 1],
    ['XS', 1024, 1],
    ['S', 2048, 2],
    ['M', 4096, 4],
    ['L', 8192, 6],
    ['XL', 16384, 8],
    ['2XL', 24576, 12],
    ['3XL', 32768, 16],
  ].map(([n, m, c]) => ({name: n as string, mem: m as number, cpus: c as number, available: true})),
  ...[
    ['XS', 2048, 1],
    ['S', 4096, 2],
    ['M', 8192, 4],
    ['L', 12288, 6],
    ['XL', 16384, 8],
    ['2XL', 24576, 12],
    ['3XL', 32768, 16],
  ].map(([n, m, c]) => ({
    name: `heptapod-runner-${n as string}`,
    mem: m as number,
    cpus: c as number,
    available: true,
  })),
  {name: 'heptapod-runner-4XL', mem: 65536, cpus: 32, available: false},
]

/** The flavors a variant rule accepts, out of the simulator's list. */
export function flavorsOf(rule: VariantRule, flavors: readonly CleverFlavor[]): CleverFlavor[] {
  return flavors.filter((f) =>
    rule.flavorContext === null ? !f.name.includes('-') : f.name.startsWith(`${rule.flavorContext}-`),
  )
}

/** A flavor as the API shows it (clever-api.md §2.3). */
export function flavorWire(f: CleverFlavor, context: string | null): Record<string, unknown> {
  const micro = f.mem <= 512
  return {
    name: f.name,
    mem: f.mem,
    cpus: f.cpus,
    gpus: 0,
    disk: null,
    price: 0.1,
    available: f.available,
    microservice: micro,
    machine_learning: false,
    nice: micro ? 5 : 0,
    price_id: `${context ?? 'apps'}.${f.name.replace(/^.*-/, '')}`,
    memory: {unit: 'B', value: f.mem * 1048576, formatted: `${f.mem} MiB`},
    cpuFactor: 1,
    memFactor: 1,
  }
}

/** One ProductRuntime entry of `GET /products/instances` (clever-api.md §2.1). */
export function runtimeWire(
  version: string,
  rule: VariantRule,
  flavors: readonly CleverFlavor[],
): Record<string, unknown> {
  const own = flavorsOf(rule, flavors).map((f) => flavorWire(f, rule.flavorContext))
  const pick = (size: string): unknown => own.find((f) => String(f.name).replace(/^.*-/, '') === size) ?? own[0]
  return {
    type: 'docker',
    version,
    name: rule.variant.name,
    description: 'Docker',
    enabled: true,
    comingSoon: false,
    maxInstances: 40,
    tags: [],
    deployments: ['git'],
    variant: rule.variant,
    flavors: own,
    defaultFlavor: pick('XS'),
    buildFlavor: pick('S'),
  }
}

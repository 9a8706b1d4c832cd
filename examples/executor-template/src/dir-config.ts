import {documented, makeFlavor, type Flavor} from '@heptapod-paas-runner/plugin-api'
import {z} from 'zod'

/** The sizes this PAAS offers. A real executor may also ask its API (see `Executor.flavors`). */
export const DIR_FLAVORS: readonly Flavor[] = [
  makeFlavor('S', 2048, 1),
  makeFlavor('M', 4096, 2),
  makeFlavor('L', 8192, 4),
]

/** The job variable through which a job asks for a flavor. */
export const FLAVOR_VARIABLE = 'CI_EXAMPLE_DIR_FLAVOR'

const flavorName = z.enum(DIR_FLAVORS.map((f) => f.name) as [string, ...string[]])

/**
 * This executor's keys of a `[[runners]]` section. The host validates them with this schema (errors
 * come out as `config.toml:LINE: runners[0].example_dir_root: …`) and hands them over, parsed and
 * with their defaults, as `runner.executorConfig`. Prefix them with your executor's name: they
 * share the section with GitLab Runner's own keys. Each has its doc line (`documented`): the SDK's
 * `markdownKeyTable(keyRows(dirConfigSchema.shape))` renders your README's table from it.
 */
export const dirConfigSchema = z.object({
  example_dir_root: documented(z.string().min(1), 'directory that plays the PAAS: one sub-directory per job'),
  example_dir_default_flavor: documented(flavorName.default('M'), 'flavor of the jobs that do not ask for one'),
})

export type DirConfig = z.output<typeof dirConfigSchema>

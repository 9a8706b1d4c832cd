import {z} from 'zod'

import {makeFlavor, type Flavor} from '../../core/quota/flavor-weight.js'

/** Every local job weighs 1: a single flavor of 1 GiB. */
export const LOCAL_FLAVORS: readonly Flavor[] = [makeFlavor('M', 1024, 1)]

export const localDockerConfigSchema = z.object({
  /** Docker engine socket (`unix://…`); else `[runners.docker] host`, else DOCKER_HOST, else /var/run/docker.sock. */
  host: z.string().regex(/^unix:\/\/\/\S+$/, 'only Unix domain sockets are supported, e.g. "unix:///var/run/docker.sock"').optional(),
})
export type LocalDockerConfig = z.infer<typeof localDockerConfigSchema>


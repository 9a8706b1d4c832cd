import {z} from 'zod'

import {makeFlavor, type Flavor} from '@heptapod-paas-runner/plugin-api'

/** Every local job weighs 1: a single flavor of 1 GiB. */
export const LOCAL_FLAVORS: readonly Flavor[] = [makeFlavor('M', 1024, 1)]

/** Where job containers are attached when `network_mode` is not set. */
export const DEFAULT_NETWORK_MODE = 'host'

export const localDockerConfigSchema = z.object({
  /** Docker engine socket (`unix://…`); else `[runners.docker] host`, else DOCKER_HOST, else /var/run/docker.sock. */
  host: z
    .string()
    .regex(/^unix:\/\/\/\S+$/, 'only Unix domain sockets are supported, e.g. "unix:///var/run/docker.sock"')
    .optional(),
  /**
   * Network of the job containers (Docker's `NetworkMode`), default `host`: the inner runner then
   * reaches whatever the workstation reaches, a GitLab on 127.0.0.1 included.
   */
  network_mode: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/, 'a Docker network mode: "host", "bridge", "none" or a network name')
    .optional(),
})
export type LocalDockerConfig = z.infer<typeof localDockerConfigSchema>

import {z} from 'zod'

import {documented, makeFlavor, type Flavor} from '@heptapod-paas-runner/plugin-api'

/** Every local job weighs 1: a single flavor of 1 GiB. */
export const LOCAL_FLAVORS: readonly Flavor[] = [makeFlavor('M', 1024, 1)]

/** Where job containers are attached when `network_mode` is not set. */
export const DEFAULT_NETWORK_MODE = 'host'

/** The local-docker executor's own keys, each with its doc line (the README's table is checked against them). */
export const localDockerConfigSchema = z.object({
  host: documented(
    z
      .string()
      .regex(/^unix:\/\/\/\S+$/, 'only Unix domain sockets are supported, e.g. "unix:///var/run/docker.sock"')
      .optional(),
    "the engine's socket; only `unix://`",
    '`[runners.docker] host`, `DOCKER_HOST`, `unix:///var/run/docker.sock`',
  ),
  // Default `host`: the inner runner then reaches whatever the workstation reaches, a GitLab on 127.0.0.1 included.
  network_mode: documented(
    z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/, 'a Docker network mode: "host", "bridge", "none" or a network name')
      .optional(),
    "network of the job containers (`host`, `bridge`, or a network's name)",
    `\`${DEFAULT_NETWORK_MODE}\``,
  ),
})
export type LocalDockerConfig = z.infer<typeof localDockerConfigSchema>

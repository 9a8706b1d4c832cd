import {z} from 'zod'

import {PaasRunnerError} from '@heptapod-paas-runner/plugin-api'

/**
 * The newest Engine API version this client speaks (Engine 27). What we rely on (build with
 * labels and the classic builder, `Config.Labels` in image inspect, label filters, host
 * networking) is unchanged from 1.40 to 1.47. It is at least 1.44 because Engine 29 refuses
 * anything older.
 */
export const CLIENT_API_VERSION = '1.47'

/** The oldest Engine API version we accept (Engine 19.03); older engines are refused. */
export const MIN_API_VERSION = '1.40'

/** `GET /version`: only what negotiation reads. Extra fields are ignored. */
export const versionAnswerSchema = z.object({
  ApiVersion: z.string().regex(/^\d+\.\d+$/),
  MinAPIVersion: z
    .string()
    .regex(/^\d+\.\d+$/)
    .optional(),
  Version: z.string().optional(),
})
export type VersionAnswer = z.infer<typeof versionAnswerSchema>

/** Compares two `major.minor` API versions: negative, zero or positive. */
export function compareApiVersions(a: string, b: string): number {
  const [am = 0, an = 0] = a.split('.').map(Number)
  const [bm = 0, bn = 0] = b.split('.').map(Number)
  return am === bm ? an - bn : am - bm
}

/**
 * The API version to talk to this engine, as the Docker clients negotiate it: ours, or the
 * engine's when it is older. Refuses an engine older than MIN_API_VERSION, and an engine whose
 * oldest accepted version is newer than ours (both with `docker_api_version`, not retryable).
 */
export function negotiateApiVersion(engine: VersionAnswer, socket: string): string {
  const named = `the Docker engine at ${socket}${engine.Version ? ` (Engine ${engine.Version})` : ''}`
  if (compareApiVersions(engine.ApiVersion, MIN_API_VERSION) < 0) {
    throw new PaasRunnerError(
      'docker_api_version',
      `${named} speaks API ${engine.ApiVersion}, older than ${MIN_API_VERSION}, the oldest local-docker supports: upgrade Docker (Engine 19.03 or later)`,
    )
  }
  if (engine.MinAPIVersion && compareApiVersions(engine.MinAPIVersion, CLIENT_API_VERSION) > 0) {
    throw new PaasRunnerError(
      'docker_api_version',
      `${named} accepts API ${engine.MinAPIVersion} or newer only; local-docker speaks up to ${CLIENT_API_VERSION}: upgrade heptapod-paas-runner`,
    )
  }
  return compareApiVersions(engine.ApiVersion, CLIENT_API_VERSION) < 0 ? engine.ApiVersion : CLIENT_API_VERSION
}

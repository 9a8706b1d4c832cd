/** `paas_job_trace_watch`: watch the job log to know when the job really started. */
export interface TraceWatchConfig {
  /** GitLab token with `read_api` that can read job logs. Without it, a job counts as started once pushed. */
  token?: string
  /** Seconds after which a job that wrote nothing is a launch failure. Default 300. */
  timeoutSeconds: number
  /** Seconds between two reads of the job log. Default 10. */
  pollStep: number
}

/**
 * One `[[runners]]` section, validated by the host. `E` is the type of the executor's own keys:
 * the host parses them with the factory's `configSchema` and hands them over as `executorConfig`.
 */
export interface RunnerConfig<E extends Record<string, unknown> = Record<string, unknown>> {
  /** 0-based position in the file, as in `runners[0]`. */
  index: number
  name?: string
  /** Coordinator base URL (without `/api/v4`). */
  url: string
  /** Runner authentication token. Secret. */
  token: string
  executor: string
  /** Runner id in GitLab, as written by `register`. */
  id?: number
  tokenObtainedAt?: string
  tokenExpiresAt?: string
  traceWatch?: TraceWatchConfig
  /** Base image of the Dockerfile pushed to the resource (`heptapod_runner_main_image`). */
  mainImage?: string
  /**
   * The runner's short token (9 characters after `glrt-`, or the first 8 of a legacy token): prefix
   * of resource names, key of the state, part of the ownership marker. Stable across restarts.
   */
  uniqueName: string
  /** The executor's own keys, parsed by its `configSchema` (defaults applied). */
  executorConfig: E
  /** Standard GitLab Runner keys, kept verbatim for the inner runner (no PAAS key, no executor key). */
  forwarded: Record<string, unknown>
}

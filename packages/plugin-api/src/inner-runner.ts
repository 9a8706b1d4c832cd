/**
 * How a job runs on the resource, as GitLab should know it: the `executor`, `shell` and
 * `features` of the `info` object the host sends with every runner call (job request, start,
 * failure, registration). GitLab uses the features to decide what a job may use (services,
 * cancelation, two-phase commit…), so an executor declares what its inner runner really does.
 */
export interface InnerRunnerInfo {
  /** GitLab Runner executor the inner runner uses (`docker`, `kubernetes`, `shell`…). */
  executor: string
  /** Default `bash`. */
  shell?: string
  features: Readonly<Record<string, boolean>>
}

/**
 * The features of GitLab Runner's docker executor, which the inner runner of the bundled
 * executors uses, except an interactive session the host cannot serve. Two-phase commit is
 * declared: the host acknowledges a job only once it is recorded in its state, so a crash in
 * between makes GitLab re-queue it instead of losing it.
 */
export const DOCKER_RUNNER_FEATURES: Readonly<Record<string, boolean>> = {
  variables: true,
  image: true,
  services: true,
  artifacts: true,
  cache: true,
  fallback_cache_keys: true,
  shared: false,
  upload_multiple_artifacts: true,
  upload_raw_artifacts: true,
  session: false,
  terminal: false,
  refspecs: true,
  masking: true,
  proxy: false,
  raw_variables: true,
  artifacts_exclude: true,
  multi_build_steps: true,
  trace_reset: true,
  trace_checksum: true,
  trace_size: true,
  vault_secrets: false,
  cancelable: true,
  return_exit_code: true,
  service_variables: true,
  service_multiple_aliases: true,
  image_executor_opts: true,
  service_executor_opts: true,
  cancel_gracefully: false,
  native_steps_integration: false,
  two_phase_job_commit: true,
  job_inputs: false,
}

/** The default: an inner GitLab Runner with the docker executor. */
export const DOCKER_INNER_RUNNER: InnerRunnerInfo = {
  executor: 'docker',
  shell: 'bash',
  features: DOCKER_RUNNER_FEATURES,
}

/** What an executor factory declares (`innerRunner`), else the docker default. */
export function innerRunnerOf(factory: {innerRunner?: InnerRunnerInfo} | undefined): InnerRunnerInfo {
  return factory?.innerRunner ?? DOCKER_INNER_RUNNER
}

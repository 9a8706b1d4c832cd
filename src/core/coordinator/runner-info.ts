/**
 * What the runner says about itself in `info`. The inner runner on the resource runs the job
 * with GitLab Runner's docker executor, so we declare docker's features, except an interactive
 * session we cannot serve. Two-phase commit is declared: we acknowledge a job only once it is
 * recorded in the state file, so a crash in between makes GitLab re-queue it instead of losing it.
 */
export const RUNNER_FEATURES: Readonly<Record<string, boolean>> = {
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

export interface RunnerInfo {
  name: string
  version: string
  revision: string
  platform: string
  architecture: string
}

/** `info` object of runner-token calls. */
export function runnerInfoBody(info: RunnerInfo): Record<string, unknown> {
  return {
    ...info,
    executor: 'docker',
    shell: 'bash',
    features: RUNNER_FEATURES,
    config: {gpus: ''},
  }
}

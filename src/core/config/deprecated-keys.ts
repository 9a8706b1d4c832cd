/**
 * Spellings used by the original README that never worked in the original code.
 * We accept them, with a deprecation warning, so configs written from that README load.
 */
export const DEPRECATED_GLOBAL_KEYS: Readonly<Record<string, string>> = {
  job_progress_interval: 'job_progress_poll_interval',
  pass_decommision_launched_failures: 'paas_decommission_launch_failures',
}

export const DEPRECATED_RUNNER_KEYS: Readonly<Record<string, string>> = {
  job_trace_watch: 'paas_job_trace_watch',
}

export const DEPRECATED_TRACE_WATCH_KEYS: Readonly<Record<string, string>> = {
  timout_seconds: 'timeout_seconds',
}

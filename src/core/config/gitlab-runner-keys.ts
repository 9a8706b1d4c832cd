/**
 * Keys GitLab Runner itself understands. They are accepted without warning: global ones
 * are ignored, runner ones are forwarded to the inner runner.
 */
export const GITLAB_GLOBAL_KEYS: readonly string[] = [
  'concurrent', 'log_level', 'log_format', 'check_interval', 'sentry_dsn', 'connection_max_age',
  'listen_address', 'shutdown_timeout', 'session_server', 'runners', 'user', 'experimental',
]

export const GITLAB_RUNNER_KEYS: readonly string[] = [
  'name', 'limit', 'output_limit', 'request_concurrency', 'unhealthy_requests_limit', 'unhealthy_interval',
  'url', 'clone_url', 'token', 'token_obtained_at', 'token_expires_at', 'tls-ca-file', 'tls-cert-file',
  'tls-key-file', 'executor', 'builds_dir', 'cache_dir', 'environment', 'pre_get_sources_script',
  'post_get_sources_script', 'pre_clone_script', 'post_clone_script', 'pre_build_script', 'post_build_script',
  'shell', 'custom_build_dir', 'referees', 'cache', 'docker', 'machine', 'kubernetes', 'custom', 'parallels',
  'virtualbox', 'ssh', 'autoscaler', 'instance', 'id', 'feature_flags', 'debug_trace_disabled',
  'clear_docker_cache', 'system_id', 'shell_options', 'labels', 'step_runner_image', 'tags',
]

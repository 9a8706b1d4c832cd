/** Retry policy helpers live in the SDK (executors retry their PAAS API calls the same way). */
export {
  DEFAULT_RETRY_POLICY,
  isRetryableStatus,
  retryDelayMs,
  serverRequestedDelayMs,
  type RetryPolicy,
} from '@heptapod-paas-runner/plugin-api'

/**
 * The host's side of the plugin API: the SDK plugins depend on (`@heptapod-paas-runner/plugin-api`),
 * plus the discovery of installed executors through the `paas:executors` hook.
 */
export * from '@heptapod-paas-runner/plugin-api'
export {
  discoverExecutors,
  factoriesByName,
  EXECUTORS_HOOK_TIMEOUT_MS,
  type ExecutorDiscovery,
  type ExecutorsHookOptions,
  type InstalledExecutor,
} from './executors-hook.js'

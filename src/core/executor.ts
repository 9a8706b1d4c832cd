/**
 * The Executor port lives in the SDK, `@heptapod-paas-runner/plugin-api` (packages/plugin-api),
 * which executor plugins depend on. Re-exported here so the core keeps one import path.
 */
export type {
  DecommissionOutcome,
  Executor,
  ExecutorDeps,
  ExecutorFactory,
  ExecutorLogger,
  Json,
  OwnedListing,
  OwnedResource,
  RegistrationQuestion,
  Resource,
  UnmarkedResource,
} from '@heptapod-paas-runner/plugin-api'
export {jobIdFromResourceName, resourceName, resourceNamePrefix} from '@heptapod-paas-runner/plugin-api'

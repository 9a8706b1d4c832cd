/**
 * What a third-party executor plugin imports: the port, the hook name, the contract suite
 * lives in `core/testing/executor-contract.js`.
 */
export * from './executors-hook.js'
export type {Executor, ExecutorDeps, ExecutorFactory, OwnedResource, Resource, DecommissionOutcome, Json} from '../core/executor.js'
export {resourceName, resourceNamePrefix, jobIdFromResourceName} from '../core/executor.js'
export {makeFlavor, flavorWeight, type Flavor} from '../core/quota/flavor-weight.js'
export {JobRejectedError, PaasRunnerError} from '../core/errors.js'
export type {JobPayload} from '../core/job-payload.js'
export type {RunnerConfig} from '../core/config/config-types.js'

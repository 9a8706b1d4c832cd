import type {z} from 'zod'

import type {Executor, ExecutorDeps, ExecutorFactory} from './executor.js'
import type {RunnerConfig} from './runner-config.js'

/** An executor factory whose `create` sees its own keys typed from `configSchema`. */
export type ExecutorDefinition<S extends z.ZodObject<z.ZodRawShape>> = Omit<
  ExecutorFactory,
  'configSchema' | 'create'
> & {
  configSchema: S
  /** `runner.executorConfig` holds this executor's keys, parsed by `configSchema` (defaults applied). */
  create(runner: RunnerConfig<z.output<S>>, deps: ExecutorDeps): Executor
}

/**
 * Declares an executor: its name, the zod schema of its own `[[runners]]` keys and a constructor
 * that receives those keys typed. The host parses the keys with the schema before it calls
 * `create`, which is why the one widening below is sound.
 */
export function defineExecutor<S extends z.ZodObject<z.ZodRawShape>>(
  definition: ExecutorDefinition<S>,
): ExecutorFactory {
  return definition as unknown as ExecutorFactory
}

/**
 * The default export of a plugin's `paas:executors` hook file (declared in its package.json under
 * `oclif.hooks`). Plain function: a plugin needs no dependency on oclif.
 */
export function executorsHook(...factories: ExecutorFactory[]): () => Promise<ExecutorFactory[]> {
  return async () => factories
}

/** Name of the oclif hook through which plugins contribute executors. */
export const EXECUTORS_HOOK = 'paas:executors'

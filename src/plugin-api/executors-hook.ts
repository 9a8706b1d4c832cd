import type {Config as OclifConfig} from '@oclif/core'

import {EXECUTORS_HOOK, type ExecutorFactory} from '@heptapod-paas-runner/plugin-api'

export {EXECUTORS_HOOK}

/** What the hook receives: nothing yet; reserved for filters. */
export type ExecutorsHookOptions = Record<string, never>

declare module '@oclif/core/interfaces' {
  interface Hooks {
    'paas:executors': {options: ExecutorsHookOptions; return: ExecutorFactory[]}
  }
}

/** An executor factory together with the plugin that provides it. */
export interface InstalledExecutor {
  factory: ExecutorFactory
  plugin: string
  /** oclif plugin type: `core` (bundled), `user` (plugins install) or `link` (plugins link). */
  pluginType: string
}

export interface ExecutorDiscovery {
  executors: Map<string, InstalledExecutor>
  /** Plugins whose hook threw, timed out or returned something unusable. They do not stop the others. */
  problems: string[]
}

/** Hook calls taking longer than this are abandoned: a broken plugin must not hang the daemon. */
export const EXECUTORS_HOOK_TIMEOUT_MS = 10_000

/**
 * Runs the `paas:executors` hook of every installed plugin and indexes the executors by name.
 * oclif does not abort on a throwing hook: failures are collected and reported here.
 * The first plugin to claim a name wins; later ones are reported.
 */
export async function discoverExecutors(config: OclifConfig): Promise<ExecutorDiscovery> {
  const result = await config.runHook(EXECUTORS_HOOK, {}, EXECUTORS_HOOK_TIMEOUT_MS, true)
  return indexExecutors(result)
}

/** What one plugin's hook gave (or how it failed), as oclif's `runHook` reports it. */
export interface HookOutcome {
  successes: {plugin: {name: string; type: string}; result: unknown}[]
  failures: {plugin: {name: string}; error: Error}[]
}

/**
 * Indexes the factories the plugins' hooks returned by executor name. Shared by oclif's hook run
 * (above) and the fast path of `status`, which loads the bundled plugins' hooks without oclif.
 */
export function indexExecutors(result: HookOutcome): ExecutorDiscovery {
  const executors = new Map<string, InstalledExecutor>()
  const problems: string[] = []
  for (const failure of result.failures) {
    problems.push(`plugin ${failure.plugin.name}: executors hook failed: ${failure.error.message}`)
  }
  // Core plugins first, then user-installed, then linked: a bundled executor cannot be hijacked by accident.
  // Plugins load concurrently: sort for a stable order (messages, `executors`, register's choices).
  const order = ['core', 'user', 'link']
  const successes = [...result.successes].sort(
    (a, b) => order.indexOf(a.plugin.type) - order.indexOf(b.plugin.type) || byCodePoint(a.plugin.name, b.plugin.name),
  )
  for (const {plugin, result: factories} of successes) {
    if (factories === undefined) continue // plugins without this hook
    if (!Array.isArray(factories)) {
      problems.push(`plugin ${plugin.name}: executors hook must return an array of executor factories`)
      continue
    }
    for (const f of factories as unknown[]) {
      const problem = checkFactory(f)
      if (problem) {
        problems.push(`plugin ${plugin.name}: ${problem}`)
        continue
      }
      const factory = f as ExecutorFactory
      const existing = executors.get(factory.name)
      if (existing) {
        problems.push(
          `plugin ${plugin.name}: executor '${factory.name}' is already provided by ${existing.plugin}; ignored`,
        )
        continue
      }
      executors.set(factory.name, {factory, plugin: plugin.name, pluginType: plugin.type})
    }
  }
  return {executors: new Map([...executors].sort(([a], [b]) => byCodePoint(a, b))), problems}
}

/** Plain string order: `localeCompare` loads ICU's collator, tens of ms at each CLI start. */
function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function checkFactory(f: unknown): string | undefined {
  if (!f || typeof f !== 'object') return 'executor factory is not an object'
  const o = f as Partial<ExecutorFactory>
  if (typeof o.name !== 'string' || !/^[a-z][a-z0-9-]*$/.test(o.name))
    return `executor factory has an invalid name ${JSON.stringify(o.name)}`
  if (typeof o.create !== 'function') return `executor '${o.name}' has no create()`
  if (!o.configSchema || typeof o.configSchema !== 'object' || !('shape' in o.configSchema))
    return `executor '${o.name}' has no zod object configSchema`
  return undefined
}

/** Factories by name, as the config parser wants them. */
export function factoriesByName(d: ExecutorDiscovery): Map<string, ExecutorFactory> {
  return new Map([...d.executors].map(([name, e]) => [name, e.factory]))
}

import type {ConfigOf} from '@heptapod-paas-runner/plugin-api'
import type {RunnerConfig} from '@heptapod-paas-runner/plugin-api'

import type {ConfigIssue} from '../errors.js'
import type {GLOBAL_KEYS} from './config-schema.js'

/** A runner's section is part of the SDK: executors receive it in `create`. */
export type {RunnerConfig, TraceWatchConfig} from '@heptapod-paas-runner/plugin-api'

type GlobalValues = ConfigOf<typeof GLOBAL_KEYS>

/**
 * The whole configuration file, validated: the global keys by property name (declared once, with
 * their doc, in config-schema.ts), and what the host adds. Durations are in seconds.
 */
export type Config = Omit<GlobalValues, 'stateFile'> & {
  file: string
  /** Durable job records: `state_file`, else `<config name>.state.json`; not used with `stateUrl`. */
  stateFile: string
  runners: RunnerConfig[]
  /** Deprecations and unknown keys: the config loads, but the operator should know. */
  warnings: ConfigIssue[]
}

export type LogLevel = Config['logLevel']

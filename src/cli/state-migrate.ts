import {rename} from 'node:fs/promises'

import {FsStateFile} from '../adapters/state/fs-state-file.js'
import {PgStateStore} from '../adapters/state/pg/pg-state-store.js'
import {lockStateFile} from '../adapters/state/state-file-lock.js'
import {ConfigError, StartupError} from '../core/errors.js'
import {StateStore} from '../core/state/state-store.js'
import {startupError} from '../app/startup-errors.js'
import type {LoadedConfig} from '../app/runtime.js'

export interface StateMigration {
  jobs: number
  orphans: number
  kept: number
  /** Where the state file was moved once copied, so that no daemon runs on it again. */
  movedTo: string
  /** The database, without its password, and the schema. */
  to: string
}

/**
 * Moves the file journal of a configuration into a PostgreSQL schema, for an upgrade from one
 * daemon to the database store. Holds the state file lock throughout: refused while a daemon
 * holds it. Refused when the schema already holds state (nothing is merged). The file is moved
 * aside (`<state_file>.migrated`) only once everything is committed; a failure leaves it in place.
 */
export async function migrateStateFile(loaded: LoadedConfig, url: string, schema: string): Promise<StateMigration> {
  const {config} = loaded
  if (config.stateUrl)
    throw new ConfigError(config.file, [
      {
        path: 'state_url',
        message:
          'this configuration already uses a database; state migrate moves the state_file of a configuration that does not',
      },
    ])
  const lock = await lockStateFile(config.stateFile).catch((error: unknown) => {
    throw startupError(config.file, 'state_file', config.stateFile, 'cannot lock the state file', error)
  })
  try {
    const source = await StateStore.inspect(new FsStateFile(config.stateFile), {now: Date.now})
    if (source.invalid.length > 0) {
      throw new StartupError(
        'state_invalid_entries',
        `${config.stateFile}: ${source.invalid.length} entr${source.invalid.length === 1 ? 'y is' : 'ies are'} not valid (first at line ${source.invalid[0]!.line}: ${source.invalid[0]!.problem}); fix or remove them before moving the file`,
        {path: 'state_file'},
      )
    }
    const {store: target} = await PgStateStore.open({
      url,
      schema,
      runnerTokens: new Map(config.runners.map((r) => [r.uniqueName, r.token])),
      now: Date.now,
    })
    try {
      if (target.records.size > 0 || target.orphans.size > 0 || target.kept.size > 0) {
        throw new StartupError(
          'state_target_not_empty',
          `schema ${schema} of ${target.path} already holds state (${target.records.size} job(s)); nothing is merged: choose another state_schema, or empty it`,
          {path: 'state_url'},
        )
      }
      if (source.systemId) await target.setSystemId(source.systemId)
      for (const r of source.records.values()) await target.put(r)
      for (const m of source.orphans.values()) await target.markOrphan(m)
      for (const k of source.kept.values()) await target.keep(k)
    } finally {
      await target.close()
    }
    const movedTo = `${config.stateFile}.migrated`
    await rename(config.stateFile, movedTo).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    })
    return {jobs: source.records.size, orphans: source.orphans.size, kept: source.kept.size, movedTo, to: target.path}
  } finally {
    await lock.release()
  }
}

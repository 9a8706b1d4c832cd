import {chmod, readFile, realpath, rename, stat, writeFile} from 'node:fs/promises'

import {parse as parseToml} from 'smol-toml'

import {CoordinatorError} from '../core/coordinator/coordinator-errors.js'
import type {Coordinator} from '../core/coordinator/coordinator.js'
import {shortToken} from '../core/identity/short-token.js'
import {removeRunners, UnsafeEditError} from './toml-sections.js'

/** One `[[runners]]` section as `list`, `verify` and `unregister` see it: read, not validated. */
export interface ListedRunner {
  index: number
  name: string | null
  url: string | null
  executor: string | null
  /** The short token, as GitLab shows it; never the token. */
  shortToken: string | null
  /** The token itself, for GitLab calls; never printed. */
  token: string | null
}

/** The runners of a file, read as TOML only, so a file the daemon would refuse can still be fixed. */
export async function readRunners(path: string): Promise<{text: string; runners: ListedRunner[]}> {
  const text = await readFile(path, 'utf8')
  const doc = parseToml(text) as {runners?: unknown}
  const raw = Array.isArray(doc.runners) ? (doc.runners as Array<Record<string, unknown>>) : []
  const str = (v: unknown): string | null => (typeof v === 'string' ? v : null)
  return {
    text,
    runners: raw.map((r, index) => {
      const token = str(r?.token)
      return {
        index,
        name: str(r?.name),
        url: str(r?.url),
        executor: str(r?.executor),
        token,
        shortToken: token ? shortToken(token) : null,
      }
    }),
  }
}

/** What GitLab says of one runner's token. */
export type TokenVerdict = 'valid' | 'removed' | {unknown: string}

/** `POST /runners/verify` for each runner: valid, removed (refused), or unknown (unreachable…). */
export async function verifyRunners(
  runners: readonly ListedRunner[],
  coordinator: Pick<Coordinator, 'verify'>,
): Promise<Map<number, TokenVerdict>> {
  const out = new Map<number, TokenVerdict>()
  for (const r of runners) {
    if (!r.url || !r.token) {
      out.set(r.index, {unknown: 'no url or token in its section'})
      continue
    }
    try {
      await coordinator.verify(r.url, r.token)
      out.set(r.index, 'valid')
    } catch (error) {
      if (error instanceof CoordinatorError && error.kind === 'token_revoked') out.set(r.index, 'removed')
      else out.set(r.index, {unknown: error instanceof Error ? error.message : String(error)})
    }
  }
  return out
}

/**
 * Unregisters each runner from GitLab (`DELETE /runners`, or only this daemon's runner manager for a
 * `glrt-` token). A runner GitLab no longer knows counts as done; one that cannot be reached is kept.
 */
export async function unregisterRunners(
  runners: readonly ListedRunner[],
  coordinator: Pick<Coordinator, 'unregister'>,
): Promise<Map<number, 'unregistered' | 'already-gone' | {kept: string}>> {
  const out = new Map<number, 'unregistered' | 'already-gone' | {kept: string}>()
  for (const r of runners) {
    if (!r.url || !r.token) {
      out.set(r.index, 'already-gone')
      continue
    }
    try {
      await coordinator.unregister(r.url, r.token)
      out.set(r.index, 'unregistered')
    } catch (error) {
      const status = error instanceof CoordinatorError ? error.status : undefined
      if (error instanceof CoordinatorError && (error.kind === 'token_revoked' || status === 404))
        out.set(r.index, 'already-gone')
      else out.set(r.index, {kept: error instanceof Error ? error.message : String(error)})
    }
  }
  return out
}

/**
 * Removes runners from the file, every other byte kept, atomically (a temporary file renamed over
 * the real one, a symlink followed), at mode 0600. UnsafeEditError when it cannot be done exactly.
 */
export async function removeFromFile(path: string, text: string, indexes: readonly number[]): Promise<void> {
  if (indexes.length === 0) return
  const next = removeRunners(text, indexes)
  const target = await realpath(path)
  const tmp = `${target}.tmp-${process.pid}`
  await writeFile(tmp, next, {mode: 0o600, flag: 'wx'})
  await chmod(tmp, 0o600)
  try {
    if ((await stat(target)).uid !== (await stat(tmp)).uid) {
      // Another owner's file: keep its inode (and owner), write in place.
      await writeFile(target, next)
      return
    }
    await rename(tmp, target)
  } finally {
    await rmQuiet(tmp)
  }
}

async function rmQuiet(path: string): Promise<void> {
  const {rm} = await import('node:fs/promises')
  await rm(path, {force: true})
}

export {UnsafeEditError}

/**
 * The system id GitLab knows this daemon by (kept in its state file): `verify` and `unregister`
 * then speak for the daemon's own runner manager, not a new one. A fresh id when no state exists.
 */
export async function daemonSystemId(configPath: string, text: string, fresh: () => string): Promise<string> {
  const [{FsStateFile}, {StateStore}, {defaultStateFile}] = await Promise.all([
    import('../adapters/state/fs-state-file.js'),
    import('../core/state/state-store.js'),
    import('../app/runtime.js'),
  ])
  const doc = parseToml(text) as {state_file?: unknown}
  const stateFile = typeof doc.state_file === 'string' ? doc.state_file : defaultStateFile(configPath).path
  try {
    return (await StateStore.inspect(new FsStateFile(stateFile), {now: Date.now})).systemId ?? fresh()
  } catch {
    return fresh()
  }
}

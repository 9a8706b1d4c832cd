import {readFileSync} from 'node:fs'
import {link, readFile, rename, unlink, writeFile} from 'node:fs/promises'
import {hostname} from 'node:os'

import {StartupError} from '../../core/errors.js'

/** What the lock file says about its holder. */
interface Holder {
  pid: number
  host: string
  /** Start time of the process (Linux clock ticks since boot), to tell a reused PID from the holder. */
  startTicks?: number
  since: string
}

/** A held lock; `release` is idempotent. */
export interface StateFileLock {
  readonly path: string
  /** Set when a stale lock of a dead process was taken over: its PID. */
  readonly tookOverFrom?: number
  release(): Promise<void>
}

/**
 * One daemon per state file. The lock is a file next to the state file naming the holder's PID.
 * It dies with the process: a `kill -9` leaves the file, but the next start sees that its PID no
 * longer runs (or runs another program, after PID reuse) and takes it over. No lock is ever
 * taken over from another host (a state file on a shared disk), since its PID cannot be checked.
 * Throws StartupError (`state_locked`) when a live process holds it.
 */
export async function lockStateFile(stateFile: string): Promise<StateFileLock> {
  const path = `${stateFile}.lock`
  const me: Holder = {pid: process.pid, host: hostname(), since: new Date().toISOString(), ...withStart(process.pid)}
  const text = `${JSON.stringify(me)}\n`
  let tookOverFrom: number | undefined
  for (let attempt = 0; attempt < 5; attempt++) {
    if (await createExclusive(path, text)) {
      const lock: StateFileLock = {
        path,
        ...(tookOverFrom === undefined ? {} : {tookOverFrom}),
        release: async () => release(path, text),
      }
      return lock
    }
    const read = await readHolder(path)
    if (read === 'absent') continue // released meanwhile: try again
    const seen = read.holder
    if (seen && isAlive(seen)) {
      throw new StartupError(
        'state_locked',
        `${stateFile}: the state file is in use by another daemon (PID ${seen.pid} on ${seen.host}, since ${seen.since}); ` +
          'two daemons must never share one state file. Stop that daemon, or give this configuration its own state_file',
        {path: 'state_file'},
      )
    }
    // Stale (its process is gone) or torn (killed while writing it): move it aside, then retry.
    // rename is atomic: of two daemons taking over at once, only one moves it.
    const aside = `${path}.stale-${process.pid}`
    try {
      await rename(path, aside)
    } catch {
      continue
    }
    const moved = await readFile(aside, 'utf8').catch(() => '')
    if (moved !== read.raw) {
      // Someone else took it over between our read and our rename: put theirs back.
      await link(aside, path).catch(() => {})
    } else if (seen) tookOverFrom = seen.pid
    await unlink(aside).catch(() => {})
  }
  throw new StartupError(
    'state_locked',
    `${stateFile}: could not take the state file lock ${path} (several daemons starting at once?); try again`,
    {path: 'state_file'},
  )
}

async function createExclusive(path: string, text: string): Promise<boolean> {
  try {
    await writeFile(path, text, {flag: 'wx', mode: 0o600})
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw error // an errno: the caller words it for the `state_file` key
  }
}

/** The lock's text, and its holder unless the text is torn. */
async function readHolder(path: string): Promise<{raw: string; holder?: Holder} | 'absent'> {
  let raw: string
  try {
    raw = await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'absent'
    throw error // an errno: the caller words it for the `state_file` key
  }
  try {
    const h = JSON.parse(raw) as Partial<Holder>
    if (
      typeof h.pid === 'number' &&
      Number.isInteger(h.pid) &&
      h.pid > 0 &&
      typeof h.host === 'string' &&
      typeof h.since === 'string'
    ) {
      return {
        raw,
        holder: {
          pid: h.pid,
          host: h.host,
          since: h.since,
          ...(typeof h.startTicks === 'number' ? {startTicks: h.startTicks} : {}),
        },
      }
    }
  } catch {
    // a lock torn by a crash while it was written
  }
  return {raw}
}

function isAlive(h: Holder): boolean {
  if (h.host !== hostname()) return true // cannot check another host's processes: assume it runs
  if (h.pid === process.pid && h.startTicks === withStart(process.pid).startTicks) return true
  try {
    process.kill(h.pid, 0)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false
  }
  // The PID runs (or exists under another user: EPERM). After PID reuse it is another process.
  const now = withStart(h.pid).startTicks
  return h.startTicks === undefined || now === undefined || now === h.startTicks
}

/** Field 22 of /proc/PID/stat: when the process started. Absent where /proc is not Linux's. */
function withStart(pid: number): {startTicks?: number} {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const ticks = Number(fields[19])
    return Number.isFinite(ticks) ? {startTicks: ticks} : {}
  } catch {
    return {}
  }
}

async function release(path: string, ours: string): Promise<void> {
  try {
    if ((await readFile(path, 'utf8')) === ours) await unlink(path)
  } catch {
    // already gone
  }
}

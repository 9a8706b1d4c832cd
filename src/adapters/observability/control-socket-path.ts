import {basename, dirname, join} from 'node:path'

/**
 * The daemon's control socket: next to the state file, named after it (`a.state.json` →
 * `a.state.sock`), so one state file (one daemon, locked) has exactly one socket. In a module of
 * its own: `status` needs the path before it knows whether it needs an HTTP client at all.
 */
export function controlSocketPath(stateFile: string): string {
  return join(dirname(stateFile), `${basename(stateFile).replace(/\.json$/, '')}.sock`)
}

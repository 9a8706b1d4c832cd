import {ConfigError} from '../core/errors.js'

/** What an errno means for a file or an address of the configuration, in words. */
const WORDS: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'not an address of this host',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTFOUND: 'host name cannot be resolved',
  EAI_AGAIN: 'host name cannot be resolved (temporary DNS failure)',
  EAI_FAIL: 'host name cannot be resolved',
  EAI_NONAME: 'host name cannot be resolved',
  EISDIR: 'is a directory',
  ENOENT: 'no such file or directory (does its directory exist?)',
  ENOTDIR: 'a component of the path is not a directory',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'file name too long',
}

/**
 * A start-up failure caused by a value of the configuration (`state_file`, `listen_address`):
 * a ConfigError (exit code 2) naming the key and the value, instead of a raw errno (exit 1).
 * Errors without an errno (a corrupt state file, a bug) are returned unchanged.
 */
export function startupError(configFile: string, key: string, value: string, what: string, error: unknown): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  if (typeof code !== 'string' || !/^E[A-Z_]+$/.test(code)) return error
  return new ConfigError(configFile, [{path: key, message: `${what} ${JSON.stringify(value)}: ${WORDS[code] ?? code}`}])
}

import {createHash} from 'node:crypto'
import {readFileSync} from 'node:fs'
import Module, {createRequire} from 'node:module'
import {dirname} from 'node:path'
import {constants, Script} from 'node:vm'

/**
 * A CommonJS file run with a V8 code cache: V8 takes the compiled bytecode from the cache instead
 * of parsing and compiling the source. Node 20 has no compile cache of its own (Node 22's
 * `module.enableCompileCache`), and none for ES modules: `status` runs its bundle this way
 * (scripts/bundle-status.mjs writes the bundle and its cache at build time).
 *
 * Not the `v8-compile-cache` package: it takes the cache right after compiling, before the code
 * runs, so the cache holds the top-level code and none of the functions compiled while it runs,
 * and it writes it into a temporary folder at run time. This cache is taken after a run, once,
 * at build time.
 */
export interface CodeCachedModule {
  exports: Record<string, unknown>
  /**
   * What became of the cache file: absent; stale (made from another source: not used); rejected
   * by V8 (another V8 version or other V8 flags); accepted. All but the last compile the source.
   */
  cache: 'absent' | 'stale' | 'rejected' | 'accepted'
  /** What `cacheFile` holds for this source: its SHA-256, then V8's cache of what has been compiled so far. */
  createCache(): Buffer
}

/** Bytes of the SHA-256 of the source, at the head of the cache file. */
const DIGEST_BYTES = 32

/**
 * Runs `file` as a CommonJS module, with the code cache in `cacheFile` if it was made from the
 * same source and V8 accepts it. Undefined when `file` does not exist. V8 checks only its own
 * version, its flags and the source's length: a cache of another source of the same length would
 * run that other code, so the cache file starts with the SHA-256 of its source (about 1 ms here).
 * The file must be ASCII (esbuild's default output; the build checks it): it is decoded as
 * latin1, a copy, where UTF-8 decodes each byte (about 15 ms for 1 MB on this kind of machine).
 */
export function loadWithCodeCache(file: string, cacheFile: string): CodeCachedModule | undefined {
  let bytes: Buffer
  try {
    bytes = readFileSync(file)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
  const digest = createHash('sha256').update(bytes).digest()
  let stored: Buffer | undefined
  try {
    stored = readFileSync(cacheFile)
  } catch {
    // No cache, or not readable: compiled from source, as without one.
  }
  const fresh = stored !== undefined && digest.equals(stored.subarray(0, DIGEST_BYTES))
  const cachedData = fresh ? stored!.subarray(DIGEST_BYTES) : undefined
  const source = bytes.toString('latin1')
  const script = new Script(Module.wrap(source), {
    filename: file,
    cachedData,
    // `import()` inside the file (a package left out of the bundle) goes to node's own loader.
    importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  })
  const module = {exports: {} as Record<string, unknown>}
  const run = script.runInThisContext() as (
    exports: unknown,
    require: NodeJS.Require,
    module: unknown,
    filename: string,
    dirname: string,
  ) => void
  run(module.exports, createRequire(file), module, file, dirname(file))
  return {
    exports: module.exports,
    cache: stored === undefined ? 'absent' : !fresh ? 'stale' : script.cachedDataRejected ? 'rejected' : 'accepted',
    createCache: () => Buffer.concat([digest, script.createCachedData()]),
  }
}

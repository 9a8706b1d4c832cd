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
  /** What V8 did with the cache file: absent, accepted, or rejected (another V8 or other flags: compiled from source). */
  cache: 'absent' | 'accepted' | 'rejected'
  /** The code cache of what has been compiled so far, for `cacheFile`. */
  createCache(): Buffer
}

/**
 * Runs `file` as a CommonJS module, with the code cache in `cacheFile` if V8 accepts it.
 * Undefined when `file` does not exist. The file must be ASCII (esbuild's default output; the
 * build checks it): it is read as latin1, a copy, where a UTF-8 read decodes each byte (about
 * 15 ms for 1 MB on this kind of machine).
 */
export function loadWithCodeCache(file: string, cacheFile: string): CodeCachedModule | undefined {
  let source: string
  try {
    source = readFileSync(file, 'latin1')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
  let cachedData: Buffer | undefined
  try {
    cachedData = readFileSync(cacheFile)
  } catch {
    // No cache, or not readable: compiled from source, as without one.
  }
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
    cache: cachedData === undefined ? 'absent' : script.cachedDataRejected ? 'rejected' : 'accepted',
    createCache: () => script.createCachedData(),
  }
}

import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

/**
 * Runs `fn` with a stand-in for git first on PATH: a shell script whose body `script` writes,
 * given the directory it lives in (where it can record how it was called). Put back after.
 */
export async function withFakeGit<T>(script: (dir: string) => string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'hpr-fakegit-'))
  const saved = process.env.PATH
  try {
    writeFileSync(join(dir, 'git'), `#!/bin/sh\n${script(dir)}`, {mode: 0o755})
    process.env.PATH = `${dir}:${saved}`
    return await fn(dir)
  } finally {
    process.env.PATH = saved
    rmSync(dir, {recursive: true, force: true})
  }
}

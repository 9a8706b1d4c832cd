import {constants} from 'node:fs'
import {chmod, copyFile, open, readFile, rename, type FileHandle} from 'node:fs/promises'
import {dirname} from 'node:path'

import type {StateFilePort} from '../../core/state/state-file-port.js'

/** State file on disk: appends are fsynced, replacements go through a temp file and a rename. Mode 0600. */
export class FsStateFile implements StateFilePort {
  private fd: FileHandle | undefined

  constructor(readonly path: string) {}

  async read(): Promise<string | undefined> {
    try {
      return await readFile(this.path, 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw error
    }
  }

  async append(text: string): Promise<void> {
    this.fd ??= await open(this.path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600)
    await this.fd.write(text)
    await this.fd.datasync()
  }

  async replace(text: string): Promise<void> {
    const tmp = `${this.path}.tmp`
    const h = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600)
    try {
      await h.write(text)
      await h.sync()
    } finally {
      await h.close()
    }
    await chmod(tmp, 0o600)
    await this.fd?.close()
    this.fd = undefined
    await rename(tmp, this.path)
    await syncDir(dirname(this.path))
  }

  async backup(suffix: string): Promise<string> {
    const to = `${this.path}${suffix}`
    await copyFile(this.path, to, constants.COPYFILE_EXCL).catch(async (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error
      await copyFile(this.path, `${to}.${Date.now()}`)
    })
    await chmod(to, 0o600).catch(() => {})
    return to
  }

  async close(): Promise<void> {
    await this.fd?.close()
    this.fd = undefined
  }
}

async function syncDir(dir: string): Promise<void> {
  const h = await open(dir, constants.O_RDONLY)
  try {
    await h.sync()
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  } finally {
    await h.close()
  }
}

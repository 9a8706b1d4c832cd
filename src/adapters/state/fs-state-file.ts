import {constants} from 'node:fs'
import {chmod, copyFile, lstat, open, readFile, readlink, rename, type FileHandle} from 'node:fs/promises'
import {dirname, resolve} from 'node:path'

import type {StateFilePort} from '../../core/state/state-file-port.js'

/** The low-level writes, injectable so that tests can make the disk full half-way through a write. */
export interface StateFileIo {
  write(fd: FileHandle, buf: Buffer, offset: number, length: number): Promise<{bytesWritten: number}>
  truncate(fd: FileHandle, size: number): Promise<void>
}

const realIo: StateFileIo = {
  write: (fd, buf, offset, length) => fd.write(buf, offset, length),
  truncate: (fd, size) => fd.truncate(size),
}

/**
 * State file on disk: appends are fsynced, replacements go through a temp file and a rename. Mode 0600.
 * Every write's byte count is checked: a write cut short (full disk, I/O error) is truncated
 * away before anything else is appended, so the journal never holds half a line glued to the
 * next. A symbolic link is followed: the file it points to is written, the link stays.
 */
export class FsStateFile implements StateFilePort {
  private fd: FileHandle | undefined
  /** Size of the file after the last confirmed append: everything beyond it is a torn write. */
  private goodSize = 0
  /** A failed append could not be cut back yet: do it before the next one. */
  private dirty = false

  constructor(
    readonly path: string,
    private readonly io: StateFileIo = realIo,
  ) {}

  async read(): Promise<string | undefined> {
    try {
      return await readFile(this.path, 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw error
    }
  }

  async append(text: string): Promise<void> {
    if (!this.fd) {
      this.fd = await open(this.path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600)
      this.goodSize = (await this.fd.stat()).size
      this.dirty = false
    }
    const fd = this.fd
    if (this.dirty) {
      await this.io.truncate(fd, this.goodSize)
      this.dirty = false
    }
    const buf = Buffer.from(text, 'utf8')
    try {
      for (let off = 0; off < buf.length;) {
        const {bytesWritten} = await this.io.write(fd, buf, off, buf.length - off)
        if (!(bytesWritten > 0))
          throw Object.assign(new Error(`state file: wrote ${off} of ${buf.length} bytes, then nothing`), {code: 'EIO'})
        off += bytesWritten
      }
      await fd.datasync()
    } catch (error) {
      // Cut the partial line now; if even that fails, before the next append.
      this.dirty = true
      await this.io.truncate(fd, this.goodSize).then(
        () => (this.dirty = false),
        () => {},
      )
      throw error
    }
    this.goodSize += buf.length
  }

  async replace(parts: readonly string[]): Promise<void> {
    const target = await followLinks(this.path)
    const tmp = `${target}.tmp`
    const h = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600)
    try {
      // Writes of ~256 KiB: never the whole file as one string (one long stall of the event loop).
      let chunk: string[] = []
      let size = 0
      for (let i = 0; i < parts.length; i++) {
        chunk.push(parts[i]!)
        size += parts[i]!.length
        if (size >= REPLACE_CHUNK_CHARS || i === parts.length - 1) {
          await writeAll(h, Buffer.from(chunk.join(''), 'utf8'))
          chunk = []
          size = 0
        }
      }
      await h.sync()
    } finally {
      await h.close()
    }
    await chmod(tmp, 0o600)
    await this.fd?.close()
    this.fd = undefined
    await rename(tmp, target)
    await syncDir(dirname(target))
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

/** Characters per write of `replace`. */
const REPLACE_CHUNK_CHARS = 256 * 1024

async function writeAll(h: FileHandle, buf: Buffer): Promise<void> {
  for (let off = 0; off < buf.length;) {
    const {bytesWritten} = await h.write(buf, off, buf.length - off)
    if (!(bytesWritten > 0))
      throw Object.assign(new Error(`state file: wrote ${off} of ${buf.length} bytes, then nothing`), {code: 'EIO'})
    off += bytesWritten
  }
}

/** The file a path names once its symbolic links are followed (even when that file does not exist yet). */
async function followLinks(path: string): Promise<string> {
  let p = resolve(path)
  for (let hops = 0; hops < 40; hops++) {
    let st
    try {
      st = await lstat(p)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return p
      throw error
    }
    if (!st.isSymbolicLink()) return p
    p = resolve(dirname(p), await readlink(p))
  }
  throw Object.assign(new Error(`${path}: too many symbolic links`), {code: 'ELOOP'})
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

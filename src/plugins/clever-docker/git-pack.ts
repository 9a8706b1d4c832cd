import {createHash} from 'node:crypto'
import {deflateSync} from 'node:zlib'

/**
 * Git objects and their pack, written in this process (gitformat-pack(5), gitformat-index's
 * object naming): a launch pushes one root commit of three small files, and running `git` for it
 * costs more than everything else a launch does (a fork of the daemon, then `git-remote-http`
 * alone maps some thirty shared libraries: about 20 ms of CPU each time, measured on the
 * reference machine; see BENCHMARKS.md).
 */

const AUTHOR = 'Heptapod Paas Runner <paasrunner@heptapod.test>'

type ObjectType = 'commit' | 'tree' | 'blob'
/** Type numbers of the pack format. */
const PACK_TYPE: Record<ObjectType, number> = {commit: 1, tree: 2, blob: 3}

interface GitObject {
  type: ObjectType
  /** Hex SHA-1 of `<type> <size>\0<content>`. */
  id: string
  content: Buffer
}

function gitObject(type: ObjectType, content: Buffer): GitObject {
  const id = createHash('sha1').update(`${type} ${content.length}\0`).update(content).digest('hex')
  return {type, id, content}
}

/** A root commit holding `files` (mode 100644) and the pack of its objects, ready to send. */
export interface RootCommitPack {
  commit: string
  pack: Buffer
}

/**
 * The root commit of `files` at the top of its tree, and the pack of the commit, its tree and
 * its blobs. Names must be plain file names (no `/`, no NUL): the build context's are fixed.
 */
export function rootCommitPack<F extends {[K in keyof F]: string}>(
  files: F,
  message: string,
  whenS: number,
): RootCommitPack {
  const names = (Object.keys(files) as Array<keyof F & string>).sort(byTreeOrder)
  const blobs = names.map((name) => {
    if (name === '' || name.includes('/') || name.includes('\0'))
      throw new Error(`not a plain file name for a git tree: ${JSON.stringify(name)}`)
    return gitObject('blob', Buffer.from(files[name], 'utf8'))
  })
  const tree = gitObject(
    'tree',
    Buffer.concat(names.flatMap((name, i) => [Buffer.from(`100644 ${name}\0`), Buffer.from(blobs[i]!.id, 'hex')])),
  )
  const commit = gitObject(
    'commit',
    Buffer.from(
      `tree ${tree.id}\nauthor ${AUTHOR} ${whenS} +0000\ncommitter ${AUTHOR} ${whenS} +0000\n\n${message}\n`,
      'utf8',
    ),
  )
  return {commit: commit.id, pack: pack([commit, tree, ...blobs])}
}

/** Tree entries sort by their bytes (a directory would sort as `name/`; a build context has none). */
function byTreeOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}

/** `PACK`, version 2, the count, each object (type and size header, zlib data), then the SHA-1 of all that. */
function pack(objects: GitObject[]): Buffer {
  const head = Buffer.alloc(12)
  head.write('PACK', 0, 'latin1')
  head.writeUInt32BE(2, 4)
  head.writeUInt32BE(objects.length, 8)
  const parts: Buffer[] = [head]
  for (const o of objects) parts.push(entryHeader(PACK_TYPE[o.type], o.content.length), deflateSync(o.content))
  const body = Buffer.concat(parts)
  return Buffer.concat([body, createHash('sha1').update(body).digest()])
}

/** Type in bits 4–6 of the first byte, the size in 4 then 7-bit groups, low bits first, high bit = more. */
function entryHeader(type: number, size: number): Buffer {
  const bytes: number[] = []
  let byte = (type << 4) | (size & 0x0f)
  let rest = Math.floor(size / 16)
  while (rest > 0) {
    bytes.push(byte | 0x80)
    byte = rest & 0x7f
    rest = Math.floor(rest / 128)
  }
  bytes.push(byte)
  return Buffer.from(bytes)
}

import {createHash} from 'node:crypto'
import {deflateSync} from 'node:zlib'

/**
 * Git objects written as loose objects (gitrepository-layout(5): `objects/xx/<38 hex>`, the
 * zlib-deflated `<type> <size>\0<content>`), in this process: a launch then runs one git process
 * (the push) instead of one more to build its commit.
 */
export interface LooseObject {
  sha: string
  /** The file's bytes: the deflated header and content. */
  deflated: Buffer
}

type ObjectType = 'blob' | 'tree' | 'commit'

export function looseObject(type: ObjectType, content: Buffer): LooseObject {
  const whole = Buffer.concat([Buffer.from(`${type} ${content.length}\0`), content])
  // Level 1: these objects live for one push; git re-deflates them in the pack it sends anyway.
  return {sha: createHash('sha1').update(whole).digest('hex'), deflated: deflateSync(whole, {level: 1})}
}

/**
 * A tree of regular files (mode 100644). Git orders a tree's entries by name, byte by byte (for
 * files; a directory would sort as if its name ended with `/`), and fsck refuses another order.
 */
export function treeObject(entries: ReadonlyArray<{name: string; sha: string}>): LooseObject {
  const sorted = [...entries].sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)))
  const parts = sorted.flatMap((e) => [Buffer.from(`100644 ${e.name}\0`), Buffer.from(e.sha, 'hex')])
  return looseObject('tree', Buffer.concat(parts))
}

/** A root commit (no parent) of `tree`, authored and committed by `ident` at `whenS` (UTC). */
export function commitObject(tree: string, ident: string, whenS: number, message: string): LooseObject {
  const text = `tree ${tree}\nauthor ${ident} ${whenS} +0000\ncommitter ${ident} ${whenS} +0000\n\n${message}\n`
  return looseObject('commit', Buffer.from(text))
}

/**
 * Blobs of the files that do not change from one job to the next (a runner's Dockerfile and
 * runner.toml): hashed and deflated once, then reused. Bounded, oldest out first.
 */
export class BlobCache {
  private readonly blobs = new Map<string, LooseObject>()

  constructor(private readonly max = 64) {}

  get(text: string): LooseObject {
    const hit = this.blobs.get(text)
    if (hit) return hit
    const blob = looseObject('blob', Buffer.from(text))
    if (this.blobs.size >= this.max) this.blobs.delete(this.blobs.keys().next().value!)
    this.blobs.set(text, blob)
    return blob
  }
}

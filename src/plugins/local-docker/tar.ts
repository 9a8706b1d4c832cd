/** Minimal ustar archive writer and reader: enough for a Docker build context of a few files. */

function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, '0')}\0`
}

/** A tar archive of regular files (mode 0644, owner 0). */
export function tar(files: Record<string, string | Uint8Array>): Buffer {
  const blocks: Buffer[] = []
  for (const [name, content] of Object.entries(files)) {
    const data = typeof content === 'string' ? Buffer.from(content) : Buffer.from(content)
    if (Buffer.byteLength(name) > 100) throw new Error(`tar: name too long: ${name}`)
    const h = Buffer.alloc(512)
    h.write(name, 0, 100, 'utf8')
    h.write(octal(0o644, 8), 100)
    h.write(octal(0, 8), 108)
    h.write(octal(0, 8), 116)
    h.write(octal(data.length, 12), 124)
    h.write(octal(0, 12), 136)
    h.write('        ', 148) // checksum placeholder
    h.write('0', 156)
    h.write('ustar\0', 257)
    h.write('00', 263)
    let sum = 0
    for (const b of h) sum += b
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148)
    blocks.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512))
  }
  blocks.push(Buffer.alloc(1024))
  return Buffer.concat(blocks)
}

/** Files of a tar archive (regular files only). Throws on a malformed archive. */
export function untar(archive: Buffer): Record<string, Buffer> {
  const out: Record<string, Buffer> = {}
  let off = 0
  while (off + 512 <= archive.length) {
    const h = archive.subarray(off, off + 512)
    if (h.every((b) => b === 0)) break
    const name = h.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '')
    const size = Number.parseInt(h.subarray(124, 136).toString('utf8').replace(/\0.*$/s, '').trim() || '0', 8)
    if (!Number.isFinite(size)) throw new Error('malformed tar header')
    const type = String.fromCharCode(h[156]!)
    off += 512
    if (type === '0' || type === '\0') out[name] = Buffer.from(archive.subarray(off, off + size))
    off += Math.ceil(size / 512) * 512
  }
  return out
}

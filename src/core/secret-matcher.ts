/**
 * Finds registered secrets in a text at a cost that does not grow with their number:
 * Rabin–Karp, one rolling hash per distinct secret length, one hash-table lookup per
 * position. Adding or removing a secret is O(its length); nothing is rebuilt. A text is
 * scanned once per distinct length (job tokens of one GitLab share one or two lengths).
 */
export class SecretMatcher {
  /** length → hash → secrets of that length and hash. */
  private readonly byLength = new Map<number, Map<number, string[]>>()
  private readonly all = new Set<string>()

  get size(): number {
    return this.all.size
  }

  has(secret: string): boolean {
    return this.all.has(secret)
  }

  add(secret: string): void {
    if (secret.length === 0 || this.all.has(secret)) return
    this.all.add(secret)
    let table = this.byLength.get(secret.length)
    if (!table) this.byLength.set(secret.length, (table = new Map()))
    const h = hashOf(secret, 0, secret.length)
    const bucket = table.get(h)
    if (bucket) bucket.push(secret)
    else table.set(h, [secret])
  }

  delete(secret: string): void {
    if (!this.all.delete(secret)) return
    const table = this.byLength.get(secret.length)!
    const h = hashOf(secret, 0, secret.length)
    const bucket = table.get(h)!
    bucket.splice(bucket.indexOf(secret), 1)
    if (bucket.length === 0) table.delete(h)
    if (table.size === 0) this.byLength.delete(secret.length)
  }

  /** Where secrets occur: `[start, end)` ranges, sorted, overlapping ones merged. */
  find(text: string): Array<[number, number]> {
    const found: Array<[number, number]> = []
    for (const [len, table] of this.byLength) {
      if (len > text.length) continue
      const drop = powMod(len - 1)
      let h = hashOf(text, 0, len)
      for (let i = 0; ; i++) {
        const bucket = table.get(h)
        if (bucket) for (const s of bucket) if (text.startsWith(s, i)) found.push([i, i + len])
        if (i + len >= text.length) break
        // Roll: remove text[i], append text[i + len].
        h = (h - ((text.charCodeAt(i) * drop) % P) + P) % P
        h = (h * B + text.charCodeAt(i + len)) % P
      }
    }
    if (found.length < 2) return found
    found.sort((a, b) => a[0] - b[0] || b[1] - a[1])
    const merged: Array<[number, number]> = [found[0]!]
    for (const r of found.slice(1)) {
      const last = merged[merged.length - 1]!
      if (r[0] < last[1]) last[1] = Math.max(last[1], r[1])
      else merged.push(r)
    }
    return merged
  }
}

/** A prime below 2^31 and a base above the UTF-16 code units of ordinary text: products stay exact in a double. */
const P = 2_147_483_629
const B = 65_599

function hashOf(s: string, from: number, to: number): number {
  let h = 0
  for (let i = from; i < to; i++) h = (h * B + s.charCodeAt(i)) % P
  return h
}

const pows: number[] = [1]
function powMod(n: number): number {
  while (pows.length <= n) pows.push((pows[pows.length - 1]! * B) % P)
  return pows[n]!
}

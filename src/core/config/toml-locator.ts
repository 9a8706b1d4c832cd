/**
 * Best-effort map from key paths (`runners[1].cc_orga_id`) to the line where they are
 * written, so that schema errors can name `file:line`. It reads the TOML text line by line;
 * the real parsing is smol-toml's job, this only needs to agree with it on valid files.
 */
export interface Location {
  line: number
  column: number
}

export class TomlLocator {
  private readonly locations = new Map<string, Location>()

  constructor(text: string) {
    this.scan(text)
  }

  /** Location of the path, or of its closest written ancestor (the table header for a missing key). */
  locate(path: string): Location | undefined {
    let p = path
    for (;;) {
      const loc = this.locations.get(p)
      if (loc) return loc
      const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['))
      if (cut <= 0) return undefined
      p = p.slice(0, cut)
    }
  }

  private scan(text: string): void {
    const arrays = new Map<string, number>() // array-of-tables path → last index
    let prefix = ''
    let skipUntil: string | undefined // closing delimiter of a multi-line string
    let bracketDepth = 0
    const lines = text.split(/\r?\n/)
    lines.forEach((raw, i) => {
      const lineNo = i + 1
      if (skipUntil) {
        if (raw.includes(skipUntil)) skipUntil = undefined
        return
      }
      if (bracketDepth > 0) {
        bracketDepth += depthChange(raw)
        return
      }
      const line = raw.replace(/^\s+/, '')
      const column = raw.length - line.length + 1
      if (line === '' || line.startsWith('#')) return
      const arrayHeader = /^\[\[\s*([^\]]+?)\s*\]\]/.exec(line)
      if (arrayHeader) {
        // The last part names the array itself: resolve only its parents (`[[runners.x]]` → `runners[i].x`).
        const keys = splitKey(arrayHeader[1]!)
        const last = keys.pop()!
        const parent = keys.length ? resolve(keys, arrays)[0]! : ''
        const base = parent ? `${parent}.${last}` : last
        const index = (arrays.get(base) ?? -1) + 1
        arrays.set(base, index)
        prefix = `${base}[${index}]`
        this.set(prefix, {line: lineNo, column})
        return
      }
      const header = /^\[\s*([^\]]+?)\s*\]/.exec(line)
      if (header) {
        prefix = resolve(splitKey(header[1]!), arrays).join('.')
        this.set(prefix, {line: lineNo, column})
        return
      }
      const kv =
        /^((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=\s*(.*)$/.exec(line)
      if (!kv) return
      const key = splitKey(kv[1]!).join('.')
      this.set(prefix ? `${prefix}.${key}` : key, {line: lineNo, column})
      const value = kv[2]!
      for (const delim of ['"""', "'''"]) {
        if (value.startsWith(delim) && !value.slice(3).includes(delim)) skipUntil = delim
      }
      if (!skipUntil && (value.startsWith('[') || value.startsWith('{'))) bracketDepth = depthChange(value)
    })
  }

  private set(path: string, loc: Location): void {
    if (!this.locations.has(path)) this.locations.set(path, loc)
  }
}

function splitKey(key: string): string[] {
  const parts: string[] = []
  const re = /\s*(?:"([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*(?:\.|$)/gy
  let m: RegExpExecArray | null
  while ((m = re.exec(key)) !== null && m[0] !== '') parts.push(m[1] ?? m[2] ?? m[3] ?? '')
  return parts
}

/** `runners.docker` after `[[runners]]` means `runners[<last>].docker`. */
function resolve(parts: string[], arrays: Map<string, number>): string[] {
  const out: string[] = []
  let path = ''
  for (const p of parts) {
    path = path ? `${path}.${p}` : p
    const idx = arrays.get(path)
    out.push(idx === undefined ? p : `${p}[${idx}]`)
    if (idx !== undefined) path = `${path}[${idx}]`
  }
  return [out.join('.')]
}

/** Net bracket depth of a line, ignoring brackets inside simple strings and comments. */
function depthChange(s: string): number {
  let depth = 0
  let quote: string | undefined
  for (const ch of s) {
    if (quote) {
      if (ch === quote) quote = undefined
    } else if (ch === '"' || ch === "'") quote = ch
    else if (ch === '#') break
    else if (ch === '[' || ch === '{') depth++
    else if (ch === ']' || ch === '}') depth--
  }
  return depth
}

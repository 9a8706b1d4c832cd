import {parse as parseToml} from 'smol-toml'

/** Where one `[[runners]]` element lies in the text: `[start, end)`, its sub-tables included. */
export interface Span {
  start: number
  end: number
}

const RUNNERS_HEADER = /^[ \t]*\[\[[ \t]*runners[ \t]*\]\][ \t]*(#.*)?$/
const RUNNERS_SUBTABLE = /^[ \t]*\[\[?[ \t]*runners[ \t]*\.[^\]]*\]\]?[ \t]*(#.*)?$/
const ANY_HEADER = /^[ \t]*\[\[?[ \t]*[A-Za-z0-9_"'-][^\]]*\]\]?[ \t]*(#.*)?$/
const BLANK_OR_COMMENT = /^[ \t]*(#.*)?$/

/**
 * The spans of the `[[runners]]` elements, in order. A line inside a multi-line string is never a
 * header. Blank and comment lines just before the next table stay with it (they usually
 * introduce it). Callers check the result by parsing (see `removeRunners`).
 */
export function runnerSpans(text: string): Span[] {
  const lines: Array<{start: number; text: string}> = []
  let pos = 0
  for (const line of text.split('\n')) {
    lines.push({start: pos, text: line.replace(/\r$/, '')})
    pos += line.length + 1
  }
  const spans: Span[] = []
  let open: number | undefined
  let lastContent = 0
  let inString: '"""' | "'''" | undefined
  const close = (at: number): void => {
    if (open === undefined) return
    spans.push({
      start: lines[open]!.start,
      end: Math.min(
        text.length,
        lines[lastContent]!.start +
          lines[lastContent]!.text.length +
          1 +
          (text[lines[lastContent]!.start + lines[lastContent]!.text.length] === '\r' ? 1 : 0),
      ),
    })
    open = undefined
    void at
  }
  lines.forEach((line, i) => {
    const wasInString = inString
    inString = stringStateAfter(line.text, inString)
    if (wasInString) {
      if (open !== undefined) lastContent = i
      return
    }
    if (RUNNERS_HEADER.test(line.text)) {
      close(i)
      open = i
      lastContent = i
      return
    }
    if (open !== undefined && RUNNERS_SUBTABLE.test(line.text)) {
      lastContent = i
      return
    }
    if (ANY_HEADER.test(line.text)) {
      close(i)
      return
    }
    if (open !== undefined && !BLANK_OR_COMMENT.test(line.text)) lastContent = i
  })
  close(lines.length)
  return spans
}

/** Whether a line leaves us inside a multi-line string (basic `"""` or literal `'''`). */
function stringStateAfter(line: string, state: '"""' | "'''" | undefined): '"""' | "'''" | undefined {
  let s = state
  let i = 0
  while (i < line.length) {
    if (s) {
      const end = line.indexOf(s, i)
      if (end < 0) return s
      i = end + 3
      s = undefined
      continue
    }
    const ch = line[i]!
    if (ch === '#') return undefined
    if (line.startsWith('"""', i) || line.startsWith("'''", i)) {
      s = line.slice(i, i + 3) as '"""' | "'''"
      i += 3
      continue
    }
    if (ch === '"' || ch === "'") {
      // A single-line string: skip it (escapes only in basic strings).
      let j = i + 1
      while (j < line.length && line[j] !== ch) j += ch === '"' && line[j] === '\\' ? 2 : 1
      i = j + 1
      continue
    }
    i++
  }
  return s
}

/** Text could not be cut without changing something else: the caller says so and edits nothing. */
export class UnsafeEditError extends Error {}

/**
 * The text without the `[[runners]]` elements at `indexes`, every other byte kept. Checked by
 * parsing: the result must be the same document minus those runners, else UnsafeEditError.
 */
export function removeRunners(text: string, indexes: readonly number[]): string {
  const doc = parseToml(text) as Record<string, unknown>
  const runners = Array.isArray(doc.runners) ? doc.runners : []
  const spans = runnerSpans(text)
  if (spans.length !== runners.length)
    throw new UnsafeEditError(
      `found ${spans.length} [[runners]] headers for ${runners.length} runners (inline tables?)`,
    )
  const drop = new Set(indexes)
  let out = ''
  let at = 0
  spans.forEach((s, i) => {
    if (!drop.has(i)) return
    out += text.slice(at, s.start)
    at = s.end
  })
  out += text.slice(at)
  const expected = {...doc, runners: runners.filter((_, i) => !drop.has(i))}
  if ((expected.runners as unknown[]).length === 0) delete (expected as Record<string, unknown>).runners
  let got: unknown
  try {
    got = parseToml(out)
  } catch (error) {
    throw new UnsafeEditError(`the result would not parse: ${(error as Error).message.split('\n')[0]}`)
  }
  // smol-toml's tables have no prototype: compare as data.
  if (JSON.stringify(got) !== JSON.stringify(expected))
    throw new UnsafeEditError('the result would not be the same file minus those runners')
  return out
}

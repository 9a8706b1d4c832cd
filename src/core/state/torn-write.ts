/** Every entry line starts so: a write torn by a crash or a full disk leaves a prefix of it. */
export const ENTRY_START = '{"t":"'

/**
 * A line that does not parse, read as a torn write: a prefix of an entry, possibly followed by
 * the complete entry written after it (appends go on at the end of the file). Returns the torn
 * part and that entry, or undefined when the line does not look like our writing at all.
 */
export function salvageTorn(line: string): {torn: string; rest?: string; whole?: string} | undefined {
  for (let j = line.indexOf(ENTRY_START, 1); j > 0; j = line.indexOf(ENTRY_START, j + 1)) {
    const rest = line.slice(j)
    try {
      JSON.parse(rest)
    } catch {
      continue
    }
    const torn = line.slice(0, j)
    if (torn.startsWith(ENTRY_START) && parses(torn)) return {torn: '', rest, whole: torn} // complete, only its newline missing
    return looksTorn(torn) ? {torn, rest} : undefined
  }
  return looksTorn(line) ? {torn: line} : undefined
}

function parses(text: string): boolean {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

function looksTorn(fragment: string): boolean {
  return fragment.startsWith(ENTRY_START) || ENTRY_START.startsWith(fragment)
}

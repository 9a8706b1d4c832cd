/** What the view would like to show, in lines. */
export interface LayoutWants {
  /** Terminal rows. */
  rows: number
  /** Runner lines of the header. */
  runners: number
  jobs: number
  /** Event lines there are. */
  events: number
  /** A "recently done" line exists. */
  history: boolean
  /** The help box is open (its height, borders included). */
  help?: number
  /** The details box is open: its fixed lines (borders and title included), timeline and log lines. */
  details?: {fixed: number; timeline: number; logs: number}
}

/** How many lines each part gets. The parts a Layout leaves out are not drawn at all. */
export interface Layout {
  runnerLines: number
  gauges: boolean
  /** The blank lines around the table. */
  spacers: boolean
  help: boolean
  details?: {timeline: number; logs: number}
  /** Job rows drawn; `more` says a "… N more" line follows. */
  tableRows: number
  more: boolean
  events: boolean
  eventRows: number
  history: boolean
}

/** Most event lines shown, however tall the terminal. */
const MAX_EVENT_ROWS = 6

/**
 * Fits the view into `rows - 1` lines (the last line stays free, so the terminal never scrolls):
 * what the operator opened (help, details) and one job row first, then the gauges, the
 * coordinators, the events panel and a few job rows; what room is left goes to more job rows,
 * the details' timeline and more events. So on a small terminal rows collapse first, then panels.
 */
export function fitLayout(w: LayoutWants): Layout {
  let left = Math.max(0, w.rows - 1) - 2 // title line, key hints
  const take = (n: number): boolean => {
    if (n > left) return false
    left -= n
    return true
  }
  const l: Layout = {
    runnerLines: 0,
    gauges: false,
    spacers: false,
    help: false,
    tableRows: 0,
    more: false,
    events: false,
    eventRows: 0,
    history: false,
  }
  take(1) // table header, or the "no job" line
  if (w.jobs > 0 && take(1)) l.tableRows = 1
  // The "… N more" line is part of the table's minimum: given back if every job fits.
  const moreReserved = w.jobs > 1 && take(1)
  if (w.help !== undefined) l.help = take(w.help)
  if (w.details) l.details = take(w.details.fixed) ? {timeline: 0, logs: 0} : undefined
  l.gauges = take(3)
  while (l.runnerLines < w.runners && take(1)) l.runnerLines++
  l.events = take(2) // title and one line (or "nothing to report")
  if (l.events) l.eventRows = Math.min(1, w.events)
  const grow = (limit: number): void => {
    while (l.tableRows < Math.min(limit, w.jobs) && take(1)) l.tableRows++
  }
  grow(3)
  l.spacers = take(2)
  if (l.details && w.details) {
    while (l.details.timeline < w.details.timeline && take(1)) l.details.timeline++
    // The "last log lines" title only with at least one line under it.
    if (w.details.logs > 0 && left >= 2 && take(1)) while (l.details.logs < w.details.logs && take(1)) l.details.logs++
  }
  grow(w.jobs)
  if (moreReserved && l.tableRows >= w.jobs) left++
  l.more = moreReserved && l.tableRows < w.jobs
  grow(w.jobs)
  if (l.events) {
    while (l.eventRows < Math.min(w.events, MAX_EVENT_ROWS) && take(1)) l.eventRows++
    l.history = w.history && take(1)
  }
  return l
}

/** Lines a layout uses, for tests: it never exceeds `rows - 1`. */
export function layoutHeight(l: Layout, w: LayoutWants): number {
  let n = 2 + 1 + l.tableRows + (l.more ? 1 : 0) + l.runnerLines
  if (l.help) n += w.help ?? 0
  if (l.details && w.details) n += w.details.fixed + l.details.timeline + (l.details.logs > 0 ? 1 + l.details.logs : 0)
  if (l.gauges) n += 3
  if (l.spacers) n += 2
  if (l.events) n += 1 + Math.max(1, l.eventRows) + (l.history ? 1 : 0)
  return n
}

/**
 * Waits until `cond()` holds, checking every `everyMs`; fails after `timeoutMs`, with what
 * `explain()` says, if given (the screen, a log's tail). A condition wait, not a sleep.
 */
export async function waitUntil(
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
  o: {everyMs?: number; explain?: () => string} = {},
): Promise<void> {
  const start = Date.now()
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs)
      throw new Error(`${what} not met within ${timeoutMs} ms${o.explain ? `\n${o.explain()}` : ''}`)
    await new Promise((r) => setTimeout(r, o.everyMs ?? 5))
  }
}

import {readFile, rename, writeFile} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'

import {z} from 'zod'

/** The quota the daemon last computed, kept so `status` can show it when no daemon runs. */
export const lastQuotaSchema = z.object({
  total: z.number().finite().nonnegative(),
  explanation: z.string().max(1000),
  /** ms since the epoch. */
  at: z.number(),
})
export type LastQuota = z.infer<typeof lastQuotaSchema>

/** `a.state.json` → `a.state.quota.json`, next to the state file. */
export function lastQuotaPath(stateFile: string): string {
  return join(dirname(stateFile), `${basename(stateFile).replace(/\.json$/, '')}.quota.json`)
}

/** Writes it atomically (temporary file, rename), mode 0600. */
export async function writeLastQuota(stateFile: string, q: LastQuota): Promise<void> {
  const path = lastQuotaPath(stateFile)
  const tmp = `${path}.tmp-${process.pid}`
  await writeFile(tmp, `${JSON.stringify(q)}\n`, {mode: 0o600})
  await rename(tmp, path)
}

/** The last known quota, or undefined when there is none or it cannot be read. */
export async function readLastQuota(stateFile: string): Promise<LastQuota | undefined> {
  try {
    const parsed = lastQuotaSchema.safeParse(JSON.parse(await readFile(lastQuotaPath(stateFile), 'utf8')))
    return parsed.success ? parsed.data : undefined
  } catch {
    return undefined
  }
}

/** How a simulated inner runner's job ended. */
export interface InnerRunResult {
  jobId: number
  result: 'success' | 'failed' | 'canceled' | 'error'
  detail?: string
}

/** How often a long job checks that it was not canceled (ms). */
const CANCEL_CHECK_MS = 1000

/**
 * Plays the inner runner (`gitlab-runner exec-fetched-job`) for a job payload handed over to a
 * resource: with the job token, it reports the job running, writes its log, waits for the job's
 * "script" (SIM_JOB_DURATION_MS) and reports the outcome (SIM_JOB_RESULT), against the GitLab
 * API named by the job's CI_API_V4_URL. Stops as soon as GitLab says the job is over (403).
 */
export async function runFetchedJob(jobJson: string, o: {label: string; defaultDurationMs: number}): Promise<InnerRunResult> {
  let job: {id: number; token: string; variables?: Array<{key: string; value: string}>}
  try {
    job = JSON.parse(jobJson) as typeof job
  } catch {
    return {jobId: -1, result: 'error', detail: 'job.json is not JSON'}
  }
  const vars = new Map((job.variables ?? []).map((v) => [v.key, v.value]))
  const api = vars.get('CI_API_V4_URL')
  if (!api) return {jobId: job.id, result: 'error', detail: 'no CI_API_V4_URL'}
  const result = vars.get('SIM_JOB_RESULT') === 'failed' ? 'failed' : 'success'
  const duration = Number(vars.get('SIM_JOB_DURATION_MS') ?? o.defaultDurationMs)
  const put = (body: Record<string, unknown>) => fetch(`${api}/jobs/${job.id}`, {method: 'PUT', headers: {'content-type': 'application/json', 'job-token': job.token}, body: JSON.stringify({token: job.token, ...body})})
  let offset = 0
  const trace = async (text: string): Promise<number> => {
    const bytes = Buffer.from(text)
    const r = await fetch(`${api}/jobs/${job.id}/trace`, {method: 'PATCH', headers: {'content-type': 'text/plain', 'job-token': job.token, 'content-range': `${offset}-${offset + bytes.length - 1}`}, body: bytes})
    const range = r.headers.get('range')
    if (r.status === 416 && range) {
      offset = Number(range.split('-')[1])
      return trace(text)
    }
    if (r.status === 202 && range) offset = Number(range.split('-')[1])
    return r.status
  }
  try {
    if ((await put({state: 'running'})).status === 403) return {jobId: job.id, result: 'canceled'}
    if ((await trace(`Running with gitlab-runner (simulated) on ${o.label}\n`)) === 403) return {jobId: job.id, result: 'canceled'}
    // A long "script" checks every second that GitLab still wants it, as a real runner's updates
    // do: a job canceled meanwhile ends its inner runner at once instead of holding its resource.
    for (let left = duration; left > 0; left -= CANCEL_CHECK_MS) {
      await new Promise((r) => setTimeout(r, Math.min(left, CANCEL_CHECK_MS)))
      if (duration <= CANCEL_CHECK_MS || left <= CANCEL_CHECK_MS) continue
      const r = await put({state: 'running'})
      if (r.status === 403 || /^cancel/.test(r.headers.get('job-status') ?? '')) return {jobId: job.id, result: 'canceled'}
    }
    if ((await trace(result === 'success' ? 'Job succeeded\n' : 'ERROR: Job failed: exit code 1\n')) === 403) return {jobId: job.id, result: 'canceled'}
    await put(result === 'success' ? {state: 'success'} : {state: 'failed', failure_reason: 'script_failure', exit_code: 1})
    return {jobId: job.id, result}
  } catch (error) {
    return {jobId: job.id, result: 'error', detail: (error as Error).message}
  }
}

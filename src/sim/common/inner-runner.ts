/** How a simulated inner runner's job ended. */
export interface InnerRunResult {
  jobId: number
  /** `killed`: its resource went away mid-job; nothing more was reported to GitLab. */
  result: 'success' | 'failed' | 'canceled' | 'error' | 'killed'
  detail?: string
}

export interface InnerRunOptions {
  label: string
  defaultDurationMs: number
  /** Aborted when the resource running the job goes away: the runner dies silently, as a killed VM would. */
  signal?: AbortSignal
  /** The resource's environment at deployment time; checked against `requiredEnv`. */
  env?: Record<string, string>
  /**
   * Environment the job needs to run at all (e.g. `CC_MOUNT_DOCKER_SOCKET=true` for the docker
   * executor's socket). A missing entry fails the job with `runner_system_failure`.
   * The job can add its own needs with the `SIM_REQUIRED_ENV` variable (`KEY=value,KEY2=value`).
   */
  requiredEnv?: Record<string, string>
  /** Called just before the final report is sent: from then on, the job's end is GitLab's to tell. */
  onFinalReport?: () => void
}

/** Why the docker executor cannot start when an environment entry is missing: what gitlab-runner would print. */
function missingEnvMessage(key: string, want: string): string {
  if (key === 'CC_MOUNT_DOCKER_SOCKET')
    return 'ERROR: Failed to create container: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running? (CC_MOUNT_DOCKER_SOCKET is not "true")'
  return `ERROR: Preparation failed: the environment needs ${key}=${want}`
}

/**
 * Plays the inner runner (`gitlab-runner exec-fetched-job`) for a job payload handed over to a
 * resource: with the job token, it reports the job running, writes its log, waits for the job's
 * "script" (SIM_JOB_DURATION_MS) and reports the outcome (SIM_JOB_RESULT), against the GitLab
 * API named by the job's CI_API_V4_URL. Stops as soon as GitLab says the job is over (403), and
 * at once, silently, when `signal` aborts (its resource was deleted).
 */
export async function runFetchedJob(jobJson: string, o: InnerRunOptions): Promise<InnerRunResult> {
  let job: {id: number; token: string; variables?: Array<{key: string; value: string}>}
  try {
    job = JSON.parse(jobJson) as typeof job
  } catch {
    return {jobId: -1, result: 'error', detail: 'job.json is not JSON'}
  }
  const vars = new Map((job.variables ?? []).map((v) => [v.key, v.value]))
  const api = vars.get('CI_API_V4_URL')
  if (!api) return {jobId: job.id, result: 'error', detail: 'no CI_API_V4_URL'}
  const required: Record<string, string> = {...o.requiredEnv}
  for (const pair of (vars.get('SIM_REQUIRED_ENV') ?? '').split(',')) {
    const i = pair.indexOf('=')
    if (i > 0) required[pair.slice(0, i).trim()] = pair.slice(i + 1).trim()
  }
  const missing = o.env === undefined ? undefined : Object.entries(required).find(([k, v]) => o.env![k] !== v)
  const result = missing ? 'failed' : vars.get('SIM_JOB_RESULT') === 'failed' ? 'failed' : 'success'
  const duration = missing ? 0 : Number(vars.get('SIM_JOB_DURATION_MS') ?? o.defaultDurationMs)
  const signal = o.signal
  const put = (body: Record<string, unknown>) =>
    fetch(`${api}/jobs/${job.id}`, {
      method: 'PUT',
      headers: {'content-type': 'application/json', 'job-token': job.token},
      body: JSON.stringify({token: job.token, ...body}),
      ...(signal ? {signal} : {}),
    })
  let offset = 0
  const trace = async (text: string): Promise<number> => {
    const bytes = Buffer.from(text)
    const r = await fetch(`${api}/jobs/${job.id}/trace`, {
      method: 'PATCH',
      headers: {
        'content-type': 'text/plain',
        'job-token': job.token,
        'content-range': `${offset}-${offset + bytes.length - 1}`,
      },
      body: bytes,
      ...(signal ? {signal} : {}),
    })
    const range = r.headers.get('range')
    if (r.status === 416 && range) {
      offset = Number(range.split('-')[1])
      return trace(text)
    }
    if (r.status === 202 && range) offset = Number(range.split('-')[1])
    return r.status
  }
  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(done, ms)
      function done(): void {
        clearTimeout(t)
        signal?.removeEventListener('abort', done)
        resolve()
      }
      signal?.addEventListener('abort', done, {once: true})
    })
  const killed = (): InnerRunResult => ({
    jobId: job.id,
    result: 'killed',
    detail: 'the resource was deleted while the job ran',
  })
  try {
    if (signal?.aborted) return killed()
    if ((await put({state: 'running'})).status === 403) return {jobId: job.id, result: 'canceled'}
    if ((await trace(`Running with gitlab-runner (simulated) on ${o.label}\n`)) === 403)
      return {jobId: job.id, result: 'canceled'}
    await sleep(duration)
    if (signal?.aborted) return killed()
    const last = missing
      ? `${missingEnvMessage(missing[0], missing[1])}\n`
      : result === 'success'
        ? 'Job succeeded\n'
        : 'ERROR: Job failed: exit code 1\n'
    if ((await trace(last)) === 403) return {jobId: job.id, result: 'canceled'}
    o.onFinalReport?.()
    if (missing) {
      await put({state: 'failed', failure_reason: 'runner_system_failure'})
      return {jobId: job.id, result: 'failed', detail: `missing environment ${missing[0]}=${missing[1]}`}
    }
    await put(
      result === 'success' ? {state: 'success'} : {state: 'failed', failure_reason: 'script_failure', exit_code: 1},
    )
    return {jobId: job.id, result}
  } catch (error) {
    if (signal?.aborted) return killed()
    return {jobId: job.id, result: 'error', detail: (error as Error).message}
  }
}

/**
 * The job as GitLab hands it over (`POST /jobs/request` 201 body), already checked by the host.
 * Only the fields the runner reads are typed; everything else is passed through untouched.
 */
export interface JobVariable {
  key: string
  value: string
  public?: boolean
  masked?: boolean
  file?: boolean
  raw?: boolean
}

export interface JobPayload {
  id: number
  /** The job token: a secret, valid while the job runs. */
  token: string
  job_info?: {
    id?: number
    name?: string
    stage?: string
    project_id?: number
    project_name?: string
    [k: string]: unknown
  }
  variables?: JobVariable[]
  image?: {name?: string; [k: string]: unknown} | null
  services?: Array<{name?: string; alias?: string; [k: string]: unknown}> | null
  [k: string]: unknown
}

/** First value of a job variable, as GitLab's runner does. */
export function jobVariable(job: Pick<JobPayload, 'variables'>, key: string): string | undefined {
  return job.variables?.find((v) => v.key === key)?.value
}

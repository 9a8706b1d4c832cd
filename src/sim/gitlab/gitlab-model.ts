import {randomBytes} from 'node:crypto'

import type {JobVariable} from '../../core/job-payload.js'

export type SimJobStatus = 'pending' | 'running' | 'canceling' | 'success' | 'failed' | 'canceled'

export interface SimRunner {
  id: number
  token: string
  description: string
  paused: boolean
  tags: string[]
  runUntagged: boolean
  /** Queue version (32 hex), ticked when a job this runner could take becomes pending. */
  queueVersion: string
  tokenExpiresAt: string | null
  managers: Map<string, {systemId: string; info: unknown; contactedAt: number}>
  revoked: boolean
}

export interface SimProject {
  id: number
  name: string
  fullPath: string
  /** Top-level group path (`CI_PROJECT_ROOT_NAMESPACE`). */
  rootNamespace: string
  /** `private` (default): only members see its jobs; `public`: everyone may read them. */
  visibility?: 'private' | 'public'
}

export interface SimJob {
  id: number
  projectId: number
  pipelineId: number
  name: string
  stage: string
  status: SimJobStatus
  /** Job token, valid only while running or canceling. */
  token: string
  runnerId?: number
  /** The runner manager that took it declared `cancel_gracefully`: a cancel goes through `canceling`. */
  cancelGracefully?: boolean
  /** Final PUTs answered 202 so far (fault switch `finalUpdate202`), and the state they asked for. */
  final202?: {count: number; state: 'success' | 'failed'; firstAt: number}
  /** Two-phase commit: assigned, waiting for the runner's `PUT state=running` since this time. */
  awaitingAckSince?: number
  /** Times GitLab re-queued it because the runner never acknowledged it. */
  requeued: number
  /** Only this runner may take it, when set. */
  runnerToken?: string
  tags: string[]
  variables: JobVariable[]
  image: string | null
  services: Array<{name: string; alias?: string}>
  script: string[]
  log: Buffer
  failureReason?: string
  exitCode?: number
  createdAt: number
  startedAt?: number
  finishedAt?: number
  /** Number of times a runner reported the job failed (PUT state=failed). */
  failureReports: number
  /** Every state change, for tests. */
  history: Array<{at: number; status: SimJobStatus; by: string}>
}

/** What a test or the demo enqueues. */
export interface JobSpec {
  projectId?: number
  name?: string
  stage?: string
  /** Extra variables (`{KEY: value}` or GitLab's list form). */
  variables?: Record<string, string> | JobVariable[]
  /** Sets `CI_CLEVER_CLOUD_FLAVOR`. */
  flavor?: string
  image?: string | null
  services?: Array<string | {name: string; alias?: string}>
  script?: string[]
  tags?: string[]
  /** Restrict the job to the runner with this token. */
  runnerToken?: string
  /** For the simulated inner runner: how the job ends (`SIM_JOB_RESULT`). */
  result?: 'success' | 'failed'
  /** For the simulated inner runner: how long the script runs (`SIM_JOB_DURATION_MS`). */
  durationMs?: number
}

export function hex(bytes: number): string {
  return randomBytes(bytes).toString('hex')
}

export function randomToken(prefix: string, length = 20): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const b = randomBytes(length)
  let s = ''
  for (const x of b) s += alphabet[x % alphabet.length]
  return prefix + s
}

export function iso(ms: number): string {
  return new Date(ms).toISOString()
}

const FAILURE_REASONS = [
  'unknown_failure',
  'script_failure',
  'api_failure',
  'stuck_or_timeout_failure',
  'runner_system_failure',
  'missing_dependency_failure',
  'runner_unsupported',
  'stale_schedule',
  'job_execution_timeout',
  'archived_failure',
  'unmet_prerequisites',
  'scheduler_failure',
  'data_integrity_failure',
]

/** The job payload GitLab sends with a 201, shaped like the reference's realistic example. */
export function buildJobPayload(
  job: SimJob,
  project: SimProject,
  runner: SimRunner,
  baseUrl: string,
  timeInQueueSec: number,
): Record<string, unknown> {
  const host = new URL(baseUrl).host
  const ciVars: JobVariable[] = [
    v('CI', 'true'),
    v('GITLAB_CI', 'true'),
    v('CI_SERVER_URL', baseUrl),
    v('CI_API_V4_URL', `${baseUrl}/api/v4`),
    v('CI_JOB_ID', String(job.id)),
    v('CI_JOB_NAME', job.name),
    v('CI_JOB_STAGE', job.stage),
    v('CI_JOB_URL', `${baseUrl}/${project.fullPath}/-/jobs/${job.id}`),
    {key: 'CI_JOB_TOKEN', value: job.token, public: false, masked: true},
    v('CI_PIPELINE_ID', String(job.pipelineId)),
    v('CI_PROJECT_ID', String(project.id)),
    v('CI_PROJECT_NAME', project.name),
    v('CI_PROJECT_PATH', project.fullPath),
    v('CI_PROJECT_ROOT_NAMESPACE', project.rootNamespace),
    v('CI_COMMIT_SHA', '3f2a9c0d8e7b6a5f4e3d2c1b0a99887766554433'),
    v('CI_COMMIT_REF_NAME', 'main'),
    v('CI_RUNNER_ID', String(runner.id)),
    v('CI_RUNNER_TAGS', JSON.stringify(runner.tags)),
    v('CI_DEPENDENCY_PROXY_SERVER', `${host}:443`),
    v('CI_DEPENDENCY_PROXY_GROUP_IMAGE_PREFIX', `${host}:443/${project.rootNamespace}/dependency_proxy/containers`),
    {key: 'CI_DEPENDENCY_PROXY_PASSWORD', value: job.token, public: false, masked: true},
    v('GITLAB_USER_LOGIN', 'jdoe'),
  ]
  const timeout = 3600
  return {
    id: job.id,
    token: job.token,
    allow_git_fetch: true,
    job_info: {
      id: job.id,
      name: job.name,
      stage: job.stage,
      project_id: project.id,
      project_name: project.name,
      project_full_path: project.fullPath,
      namespace_id: 7,
      root_namespace_id: 3,
      organization_id: 1,
      instance_id: '1',
      instance_uuid: '2b8e7c1e-0f3a-4d7b-9c61-5a0e2f3d4b11',
      user_id: 12,
      scoped_user_id: null,
      time_in_queue_seconds: timeInQueueSec,
      project_jobs_running_on_instance_runners_count: '+Inf',
      queue_size: 0,
      queue_depth: 0,
    },
    git_info: {
      repo_url: `${baseUrl.replace('://', `://gitlab-ci-token:${job.token}@`)}/${project.fullPath}.git`,
      repo_object_format: 'sha1',
      ref: 'main',
      sha: '3f2a9c0d8e7b6a5f4e3d2c1b0a99887766554433',
      before_sha: '0000000000000000000000000000000000000000',
      ref_type: 'branch',
      refspecs: [
        `+refs/pipelines/${job.pipelineId}:refs/pipelines/${job.pipelineId}`,
        '+refs/heads/main:refs/remotes/origin/main',
      ],
      depth: 20,
      protected: true,
    },
    runner_info: {timeout, runner_session_url: null},
    variables: [...ciVars, ...job.variables],
    steps: [{name: 'script', script: job.script, timeout, when: 'on_success', allow_failure: false}],
    hooks: [],
    image:
      job.image === null ? null : {name: job.image, entrypoint: null, ports: [], executor_opts: {}, pull_policy: null},
    services: job.services.map((s) => ({
      name: s.name,
      entrypoint: null,
      ports: [],
      executor_opts: {},
      pull_policy: null,
      ...(s.alias ? {alias: s.alias} : {}),
      command: null,
      variables: [],
    })),
    artifacts: null,
    cache: [],
    credentials: [{type: 'registry', url: `registry.${host}`, username: 'gitlab-ci-token', password: job.token}],
    dependencies: [],
    features: {trace_sections: true, failure_reasons: FAILURE_REASONS},
  }
}

function v(key: string, value: string): JobVariable {
  return {key, value, public: true, masked: false}
}

/** The REST job entity (`GET /job`, `GET /projects/:id/jobs/:job_id`). */
export function jobEntity(
  job: SimJob,
  project: SimProject,
  runner: SimRunner | undefined,
  baseUrl: string,
): Record<string, unknown> {
  return {
    id: job.id,
    status: job.status,
    stage: job.stage,
    name: job.name,
    ref: 'main',
    tag: false,
    coverage: null,
    allow_failure: false,
    created_at: iso(job.createdAt),
    started_at: job.startedAt === undefined ? null : iso(job.startedAt),
    finished_at: job.finishedAt === undefined ? null : iso(job.finishedAt),
    erased_at: null,
    duration: job.startedAt === undefined ? null : ((job.finishedAt ?? Date.now()) - job.startedAt) / 1000,
    queued_duration: ((job.startedAt ?? Date.now()) - job.createdAt) / 1000,
    user: {id: 12, username: 'jdoe', name: 'Jane Doe'},
    pipeline: {
      id: job.pipelineId,
      project_id: project.id,
      ref: 'main',
      sha: '3f2a9c0d8e7b6a5f4e3d2c1b0a99887766554433',
      status: job.status,
    },
    ...(job.status === 'failed' ? {failure_reason: job.failureReason ?? 'unknown_failure'} : {}),
    web_url: `${baseUrl}/${project.fullPath}/-/jobs/${job.id}`,
    project: {ci_job_token_scope_enabled: false},
    artifacts: [],
    runner: runner
      ? {
          id: runner.id,
          description: runner.description,
          active: !runner.paused,
          paused: runner.paused,
          is_shared: true,
          runner_type: 'instance_type',
          name: 'heptapod-paas-runner',
          online: true,
          status: 'online',
        }
      : null,
    archived: false,
    tag_list: [...job.tags].sort(),
  }
}

import {stringify} from 'smol-toml'

import type {RunnerConfig} from '../../core/config/config-types.js'
import type {JobPayload} from '../../core/job-payload.js'
import {amendForDependencyProxy} from './docker-image.js'

/** Base image when `heptapod_runner_main_image` is not set, as in the original 0.6.3. */
export const DEFAULT_MAIN_IMAGE = 'registry.heptapod.net:443/heptapod/heptapod-runner/runner:0.6.3'

/**
 * The inner runner's configuration: the runner's standard GitLab Runner keys, executor `docker`.
 * Never a `cc_*` key, a PAAS key or the job-log watch token (an administrator token).
 */
export function innerRunnerConfig(runner: RunnerConfig): {runners: Array<Record<string, unknown>>} {
  const r: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(runner.forwarded)) {
    if (k.startsWith('cc_') || k.startsWith('paas_') || k === 'job_trace_watch' || k === 'heptapod_runner_main_image') continue
    r[k] = v
  }
  r.executor = 'docker'
  return {runners: [r]}
}

export function dockerfile(baseImage: string): string {
  return [
    `FROM ${baseImage}`,
    'COPY runner.toml /etc/gitlab-runner/runner.toml',
    'COPY job.json /etc/gitlab-runner/job.json',
    'ENTRYPOINT ["/usr/bin/gitlab-runner", "exec-fetched-job", "--config", "/etc/gitlab-runner/runner.toml", "/etc/gitlab-runner/job.json"]',
    '',
  ].join('\n')
}

/** The three files of a build context, by name: what the deployment repository receives. */
export type BuildContextFiles = Readonly<Record<'Dockerfile' | 'runner.toml' | 'job.json', string>>

/**
 * The build contexts of one runner. `Dockerfile` and `runner.toml` depend on the runner's
 * configuration only: rendered once, not per job (TOML rendering is most of a context's cost).
 */
export class BuildContextRenderer {
  private fixed: {dockerfile: string; runnerToml: string} | undefined

  constructor(private readonly runner: RunnerConfig) {}

  /** `Dockerfile`, `runner.toml` and `job.json` (dependency-proxy amended) of a job. */
  files(job: JobPayload): BuildContextFiles {
    this.fixed ??= {dockerfile: dockerfile(this.runner.mainImage ?? DEFAULT_MAIN_IMAGE), runnerToml: `${stringify(innerRunnerConfig(this.runner))}\n`}
    return {'Dockerfile': this.fixed.dockerfile, 'runner.toml': this.fixed.runnerToml, 'job.json': JSON.stringify(amendForDependencyProxy(job))}
  }
}

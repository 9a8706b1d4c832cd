import {mkdir, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import {stringify} from 'smol-toml'

import type {JobPayload} from '../job-payload.js'
import type {RunnerConfig} from '../runner-config.js'
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
    if (k.startsWith('cc_') || k.startsWith('paas_') || k === 'job_trace_watch' || k === 'heptapod_runner_main_image')
      continue
    r[k] = v
  }
  r.executor = 'docker'
  return {runners: [r]}
}

/**
 * The Dockerfile of the build context: the inner runner runs the one job it is given.
 * `labels` go right after `FROM`, so that every image of the build, intermediate ones included,
 * carries them (Docker-based executors find and prune what an interrupted build leaves).
 */
export function dockerfile(baseImage: string, labels: Readonly<Record<string, string>> = {}): string {
  const entries = Object.entries(labels)
  return [
    `FROM ${baseImage}`,
    ...(entries.length
      ? [`LABEL ${entries.map(([k, v]) => `${JSON.stringify(k)}=${JSON.stringify(v)}`).join(' ')}`]
      : []),
    'COPY runner.toml /etc/gitlab-runner/runner.toml',
    'COPY job.json /etc/gitlab-runner/job.json',
    'ENTRYPOINT ["/usr/bin/gitlab-runner", "exec-fetched-job", "--config", "/etc/gitlab-runner/runner.toml", "/etc/gitlab-runner/job.json"]',
    '',
  ].join('\n')
}

/** The three files of a build context, by name. `runner.toml` and `job.json` hold secrets (tokens). */
export interface BuildContextFiles {
  Dockerfile: string
  'runner.toml': string
  'job.json': string
}

/**
 * The build context of a job, in memory: the Dockerfile (on `heptapod_runner_main_image`), the
 * inner runner's `runner.toml` (no PAAS key) and `job.json` (dependency-proxy amended).
 */
export function buildContextFiles(
  runner: RunnerConfig,
  job: JobPayload,
  opts: {labels?: Readonly<Record<string, string>>} = {},
): BuildContextFiles {
  return {
    Dockerfile: dockerfile(runner.mainImage ?? DEFAULT_MAIN_IMAGE, opts.labels),
    'runner.toml': `${stringify(innerRunnerConfig(runner))}\n`,
    'job.json': JSON.stringify(amendForDependencyProxy(job)),
  }
}

/** Writes the build context into `dir` (created if needed); the files with secrets are private to the user. */
export async function writeBuildContext(dir: string, runner: RunnerConfig, job: JobPayload): Promise<void> {
  const files = buildContextFiles(runner, job)
  await mkdir(dir, {recursive: true})
  await writeFile(join(dir, 'Dockerfile'), files.Dockerfile)
  await writeFile(join(dir, 'runner.toml'), files['runner.toml'], {mode: 0o600})
  await writeFile(join(dir, 'job.json'), files['job.json'], {mode: 0o600})
}

/**
 * The build contexts of one runner. `Dockerfile` and `runner.toml` depend on the runner's
 * configuration only: rendered once, not per job (TOML rendering is most of a context's cost).
 */
export class BuildContextRenderer {
  private fixed: {dockerfile: string; runnerToml: string} | undefined

  constructor(
    private readonly runner: RunnerConfig,
    private readonly opts: {labels?: Readonly<Record<string, string>>} = {},
  ) {}

  /** `Dockerfile`, `runner.toml` and `job.json` (dependency-proxy amended) of a job. */
  files(job: JobPayload): BuildContextFiles {
    this.fixed ??= {
      dockerfile: dockerfile(this.runner.mainImage ?? DEFAULT_MAIN_IMAGE, this.opts.labels),
      runnerToml: `${stringify(innerRunnerConfig(this.runner))}\n`,
    }
    return {
      Dockerfile: this.fixed.dockerfile,
      'runner.toml': this.fixed.runnerToml,
      'job.json': JSON.stringify(amendForDependencyProxy(job)),
    }
  }
}

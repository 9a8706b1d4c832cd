import {DOCKER_INNER_RUNNER, DOCKER_RUNNER_FEATURES, type InnerRunnerInfo} from '@heptapod-paas-runner/plugin-api'

/** The docker executor's features, the default of an executor that declares none (SDK: `innerRunner`). */
export const RUNNER_FEATURES = DOCKER_RUNNER_FEATURES

export interface RunnerInfo {
  name: string
  version: string
  revision: string
  platform: string
  architecture: string
}

/**
 * `info` object of runner-token calls: who we are, and how the runner's jobs run, as its
 * executor declares it (`executor`, `shell`, `features`; GitLab Runner's docker executor by default).
 */
export function runnerInfoBody(
  info: RunnerInfo,
  inner: InnerRunnerInfo = DOCKER_INNER_RUNNER,
): Record<string, unknown> {
  return {
    ...info,
    executor: inner.executor,
    shell: inner.shell ?? 'bash',
    features: inner.features,
    config: {gpus: ''},
  }
}

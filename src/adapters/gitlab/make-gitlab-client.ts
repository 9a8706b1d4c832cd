import {randomInt} from 'node:crypto'
import {arch, platform} from 'node:os'

import {GitLabClient, type GitLabClientOptions} from '../../core/coordinator/gitlab-client.js'
import type {RunnerInfo} from '../../core/coordinator/runner-info.js'
import {abortableSleep} from '../clock/real-clock.js'
import {UndiciHttpClient} from '../http/undici-http-client.js'

export const RUNNER_NAME = 'heptapod-paas-runner'
export const RUNNER_VERSION = '0.1.0'

const GO_ARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  ia32: '386',
  arm: 'arm',
  s390x: 's390x',
  ppc64: 'ppc64le',
  riscv64: 'riscv64',
}

export function runnerInfo(): RunnerInfo {
  return {
    name: RUNNER_NAME,
    version: RUNNER_VERSION,
    revision: 'unknown',
    platform: platform(),
    architecture: GO_ARCH[arch()] ?? arch(),
  }
}

/** `r_` + 12 random alphanumerics, as gitlab-runner makes when it has no machine id. */
export function newSystemId(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
  let s = 'r_'
  for (let i = 0; i < 12; i++) s += alphabet[randomInt(alphabet.length)]
  return s
}

/** A GitLab client over undici with the real clock. Options override the defaults (tests). */
export function makeGitLabClient(opts: Partial<GitLabClientOptions> & {systemId: string}): GitLabClient {
  return new GitLabClient({
    http: new UndiciHttpClient(),
    sleep: abortableSleep,
    now: () => Date.now(),
    random: Math.random,
    info: runnerInfo(),
    ...opts,
  })
}

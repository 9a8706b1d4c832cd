import {chmod} from 'node:fs/promises'
import {hostname} from 'node:os'

import type {Config as OclifConfig} from '@oclif/core'

import {makeGitLabClient, newSystemId} from '../adapters/gitlab/make-gitlab-client.js'
import {defaultConfigPath} from '../cli/common-flags.js'
import {registerRunner, type RegisterInput, type RegisterResult} from '../cli/register.js'
import {silentLogger} from '../core/logger.js'
import type {Redactor} from '../core/redact.js'
import {discoverExecutors, factoriesByName} from '../plugin-api/executors-hook.js'
import {defaultExecutorDeps} from './runtime.js'

/**
 * `register`'s services, wired: the installed executors, a GitLab client, the prompts (when
 * interactive), and the answers remembered from the last time (a 0600 file in the config dir).
 * Runs `registerRunner` with them and remembers this time's URL and file.
 */
export async function registerWithServices(o: {
  oclif: OclifConfig
  given: RegisterInput
  interactive: boolean
  redactor: Redactor
  progress(line: string): void
}): Promise<RegisterResult> {
  const {default: Conf} = await import('conf')
  const memory = new Conf<{url?: string; configPath?: string}>({
    cwd: o.oclif.configDir,
    configName: 'register',
    configFileMode: 0o600,
  })
  await chmod(memory.path, 0o600).catch(() => {}) // a file remembered by an earlier version, 0644
  const discovery = await discoverExecutors(o.oclif)
  const prompter = o.interactive ? await (await import('../cli/inquirer-prompter.js')).inquirerPrompter() : undefined
  const r = await registerRunner({
    given: o.given,
    ...(prompter ? {prompter} : {}),
    executors: factoriesByName(discovery),
    coordinator: makeGitLabClient({systemId: newSystemId()}),
    remembered: {url: memory.get('url'), configPath: memory.get('configPath')},
    defaultConfigPath: defaultConfigPath(),
    defaultName: hostname(),
    executorDeps: () => defaultExecutorDeps(silentLogger, o.redactor),
    now: Date.now,
    progress: o.progress,
  })
  o.redactor.add(r.registration.token)
  memory.set('url', r.url)
  memory.set('configPath', r.configPath)
  return r
}

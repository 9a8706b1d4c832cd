import {constants} from 'node:fs'
import {access, appendFile, readFile, stat, writeFile} from 'node:fs/promises'
import {dirname, join, resolve} from 'node:path'

import {parse as parseToml, stringify} from 'smol-toml'

import {CoordinatorError} from '../core/coordinator/coordinator-errors.js'
import type {Coordinator, Registration} from '../core/coordinator/coordinator.js'
import {PaasRunnerError} from '../core/errors.js'
import type {ExecutorFactory} from '../core/executor.js'
import {shortToken} from '../core/identity/short-token.js'
import {defaultStateFile} from './runtime.js'

/** How `register` asks questions; the command uses inquirer, tests inject their own input. */
export interface Prompter {
  input(message: string, opts?: {default?: string; validate?: (v: string) => string | undefined}): Promise<string>
  secret(message: string, opts?: {validate?: (v: string) => string | undefined}): Promise<string>
  choice<T extends string | boolean>(message: string, choices: ReadonlyArray<{name: string; value: T}>): Promise<T>
}

export interface RegisterInput {
  configPath?: string
  url?: string
  /** A `glrt-` authentication token (verified) or a legacy registration token (registers a runner). */
  token?: string
  name?: string
  executor?: string
  /** Executor keys given on the command line (`--set key=value`). */
  settings: Record<string, string>
  paused?: boolean
  /** For a new file. */
  concurrent?: number
  stateFile?: string
}

export class RegisterError extends PaasRunnerError {
  constructor(message: string) {
    super('register_failed', message)
  }
}

export interface RegisterResult {
  configPath: string
  created: boolean
  registration: Registration
  url: string
  /** What was appended (secrets included: it is the config file's content). */
  section: string
}

const URL_RE = /^https?:\/\/[^\s/]+/

/**
 * Registers a runner and appends its `[[runners]]` section. Everything is checked first (the
 * file can be written, the token works); on any error nothing is written.
 */
export async function registerRunner(o: {
  given: RegisterInput
  prompter?: Prompter
  executors: ReadonlyMap<string, ExecutorFactory>
  coordinator: Pick<Coordinator, 'register' | 'verify'>
  remembered: {url?: string; configPath?: string}
  now: () => number
}): Promise<RegisterResult> {
  const g = o.given
  const ask = async <T>(what: string, flag: string, value: T | undefined, prompt: (p: Prompter) => Promise<T>): Promise<T> => {
    if (value !== undefined) return value
    if (!o.prompter) throw new RegisterError(`${what} is missing: give ${flag} (non-interactive mode)`)
    return prompt(o.prompter)
  }
  const required = (v: string): string | undefined => (v.trim() === '' ? 'required' : undefined)

  const configPath = resolve(await ask('the configuration file path', '--config', g.configPath ?? (o.prompter ? undefined : o.remembered.configPath), (p) =>
    p.input('Configuration file (created if absent, else a [[runners]] section is appended)', {default: o.remembered.configPath ?? 'config.toml', validate: required})))
  const created = await checkWritable(configPath)

  const url = (await ask('the GitLab / Heptapod URL', '--url', g.url, (p) =>
    p.input('GitLab / Heptapod instance URL (e.g. https://heptapod.example.com)', {...(o.remembered.url ? {default: o.remembered.url} : {}), validate: (v) => (URL_RE.test(v) ? undefined : 'must be an http(s) URL')}))).trim()
  if (!URL_RE.test(url)) throw new RegisterError(`the URL must be an http(s) URL, got ${JSON.stringify(url)}`)

  const token = (await ask('the token', '--token', g.token, (p) =>
    p.secret('Runner authentication token (glrt-…, from the runner created in GitLab) or legacy registration token', {validate: required}))).trim()
  if (!token) throw new RegisterError('the token is empty')
  // A runner authentication token is final: refuse a runner the file already has before asking anything more.
  if (!created && token.startsWith('glrt')) await refuseSameShortToken(configPath, token)

  const name = (await ask('the runner name', '--name', g.name, (p) => p.input('Runner name', {default: 'paas-runner', validate: required}))).trim()

  const names = [...o.executors.keys()]
  const executorName = await ask('the executor', '--executor', g.executor, (p) =>
    p.choice('Executor', names.map((n) => ({name: `${n}: ${o.executors.get(n)!.description}`, value: n}))))
  const factory = o.executors.get(executorName)
  if (!factory) throw new RegisterError(`unknown executor '${executorName}'; installed executors: ${names.join(', ')}`)

  const answers: Record<string, unknown> = {}
  for (const q of factory.registration?.questions ?? []) {
    if (q.when && !q.when(answers)) continue
    const given = g.settings[q.key]
    let value: string | boolean
    if (given !== undefined) {
      value = q.choices?.some((c) => typeof c.value === 'boolean') ? given === 'true' : given
    } else {
      if (!o.prompter) throw new RegisterError(`${q.key} is missing: give --set ${q.key}=… (non-interactive mode)`)
      value = q.kind === 'choice' ? await o.prompter.choice(q.message, q.choices ?? []) : q.kind === 'secret' ? await o.prompter.secret(q.message, {validate: q.validate ?? required}) : await o.prompter.input(q.message, {validate: q.validate ?? required})
    }
    if (typeof value === 'string') {
      const problem = q.validate?.(value) ?? required(value)
      if (problem) throw new RegisterError(`${q.key}: ${problem}`)
    }
    answers[q.key] = value
  }

  // Only now talk to GitLab: nothing is written unless this works.
  let registration: Registration
  try {
    registration = token.startsWith('glrt-')
      ? await o.coordinator.verify(url, token)
      : await o.coordinator.register(url, {registrationToken: token, description: name, paused: g.paused ?? false})
  } catch (error) {
    if (error instanceof CoordinatorError) {
      if (error.kind === 'token_revoked') throw new RegisterError(`GitLab refused the token: ${token.startsWith('glrt-') ? 'this runner authentication token is unknown, expired or revoked' : 'this registration token is not valid'}. Nothing was written.`)
      if (error.kind === 'unavailable') throw new RegisterError(`cannot reach ${url}: ${error.message}. Nothing was written.`)
      throw new RegisterError(`${error.message}. Nothing was written.`)
    }
    throw error
  }

  if (!created) await refuseSameShortToken(configPath, registration.token)
  const runner: Record<string, unknown> = {
    name,
    url,
    id: registration.id,
    token: registration.token,
    token_obtained_at: new Date(o.now()),
    ...(registration.tokenExpiresAt ? {token_expires_at: new Date(registration.tokenExpiresAt)} : {}),
    executor: executorName,
    ...answers,
    ...factory.registration?.defaults,
  }
  const section = stringify({runners: [runner]})
  if (created) {
    const header = [
      '# Written by `heptapod-paas-runner register`; complete it as needed (see the README).',
      `concurrent = ${g.concurrent ?? 50}`,
      `state_file = ${JSON.stringify(g.stateFile ?? defaultStateFile(configPath).path)}`,
      '',
      '[quota_computation]',
      `  reference_runner = ${JSON.stringify(name)}`,
      `  reference_flavor = ${JSON.stringify(factory.registration?.referenceFlavor ?? 'M')}`,
      '  reference_jobs_count = 4',
      '',
    ].join('\n')
    await writeFile(configPath, `${header}\n${section}\n`, {mode: 0o600, flag: 'wx'})
  } else {
    const before = await readFile(configPath, 'utf8')
    await appendFile(configPath, `${before === '' || before.endsWith('\n') ? '' : '\n'}\n${section}\n`)
  }
  return {configPath, created, registration, url, section}
}

/**
 * The short token names resources and state records: two runners of one file must not share it
 * (the daemon would refuse the file). Checked before anything is written.
 */
async function refuseSameShortToken(configPath: string, token: string): Promise<void> {
  let doc: {runners?: unknown}
  try {
    doc = parseToml(await readFile(configPath, 'utf8')) as {runners?: unknown}
  } catch {
    throw new RegisterError(`${configPath} is not valid TOML: fix it before adding a runner. Nothing was written.`)
  }
  const short = shortToken(token)
  const runners = Array.isArray(doc.runners) ? (doc.runners as Array<Record<string, unknown>>) : []
  const same = runners.findIndex((r) => typeof r?.token === 'string' && shortToken(r.token) === short)
  if (same >= 0) {
    const name = typeof runners[same]!.name === 'string' ? ` ('${runners[same]!.name as string}')` : ''
    throw new RegisterError(`runners[${same}]${name} of ${configPath} has the same short token '${short}': this runner is already in the file. Nothing was written.`)
  }
}

/** True when the file does not exist yet (it will be created). Throws a RegisterError when it cannot be written. */
async function checkWritable(path: string): Promise<boolean> {
  const dir = dirname(path)
  try {
    const s = await stat(dir)
    if (!s.isDirectory()) throw new RegisterError(`${dir} is not a directory`)
  } catch (error) {
    if (error instanceof RegisterError) throw error
    throw new RegisterError(`the directory ${dir} does not exist: create it first`)
  }
  let exists = true
  try {
    await access(path, constants.F_OK)
  } catch {
    exists = false
  }
  try {
    await access(exists ? path : dir, constants.W_OK | (exists ? constants.R_OK : 0))
  } catch {
    throw new RegisterError(exists ? `${path} is not readable and writable by this user` : `the directory ${dir} is not writable by this user`)
  }
  return !exists
}

import {constants} from 'node:fs'
import {access, appendFile, chmod, readFile, stat, writeFile} from 'node:fs/promises'
import {dirname, resolve} from 'node:path'

import {innerRunnerOf} from '@heptapod-paas-runner/plugin-api'

import {parse as parseToml, stringify} from 'smol-toml'

import type {RunnerConfig} from '../core/config/config-types.js'
import {parseConfig} from '../core/config/parse-config.js'
import {CoordinatorError} from '../core/coordinator/coordinator-errors.js'
import type {Coordinator, Registration} from '../core/coordinator/coordinator.js'
import {ConfigError, formatIssue, PaasRunnerError} from '../core/errors.js'
import type {ExecutorDeps, ExecutorFactory} from '../core/executor.js'
import {shortToken} from '../core/identity/short-token.js'
import {formatWeight, type Flavor} from '../core/quota/flavor-weight.js'
import {computeWeightedQuota, jobsFitting} from '../core/quota/quota.js'
import {RegisterUsageError, sortSettings, splitSetting, type SortedSettings} from './register-settings.js'
import {defaultStateFile} from '../app/runtime.js'

export {RegisterUsageError} from './register-settings.js'

/** How `register` asks questions; the command uses inquirer, tests inject their own input. */
export interface Prompter {
  input(message: string, opts?: {default?: string; validate?: (v: string) => string | undefined}): Promise<string>
  secret(message: string, opts?: {validate?: (v: string) => string | undefined}): Promise<string>
  choice<T extends string | boolean>(
    message: string,
    choices: ReadonlyArray<{name: string; value: T}>,
    opts?: {default?: T},
  ): Promise<T>
}

export interface RegisterInput {
  configPath?: string
  url?: string
  /** `--token`: a runner authentication token (`glrt-…`), verified. A `GR1348941…` one is a registration token. */
  token?: string
  /** `--registration-token`: a legacy registration token, which registers a new runner (`glrt-…`: verified). */
  registrationToken?: string
  name?: string
  executor?: string
  /** `--set KEY=VALUE`, in order. */
  settings: ReadonlyArray<string>
  /** Legacy registration only, as gitlab-runner's flags. */
  paused?: boolean
  locked?: boolean
  runUntagged?: boolean
  tagList?: string[]
  /** Heaviest flavor a job may ask for. */
  maxFlavor?: string
  /** The quota of a new file: this many jobs of the maximum flavor at once. */
  maxFlavorJobs?: number
  /** For a new file. */
  concurrent?: number
  stateFile?: string
}

/** GitLab refused, or could not be reached, or the file cannot be written: exit 1. */
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
  name: string
  executor: string
  shortToken: string
  /** Registered with a legacy registration token (a new runner in GitLab). */
  registered: boolean
  paused: boolean
  maxFlavor?: {name: string; weight: number}
  /** The weighted quota of the file, when it could be computed. */
  quota?: {total: number; explanation: string}
  /** What the operator must know (a quota a job cannot fit in…); already formatted. */
  warnings: string[]
}

export interface RegisterDeps {
  given: RegisterInput
  /** Absent: non-interactive, every answer comes from `given`. */
  prompter?: Prompter
  executors: ReadonlyMap<string, ExecutorFactory>
  coordinator: Pick<Coordinator, 'register' | 'verify' | 'unregister'>
  remembered: {url?: string; configPath?: string}
  /** The file when none is given (see `defaultConfigPath`). */
  defaultConfigPath: string
  /** Default runner name (the host name, as gitlab-runner). */
  defaultName: string
  /** Services for an executor made only to list its flavors. */
  executorDeps: (runner: RunnerConfig) => ExecutorDeps
  now: () => number
  /** Called with each step's news (token verified…), for the operator. */
  progress?: (line: string) => void
  /** How long listing flavors may take. */
  flavorsTimeoutMs?: number
}

/** The flavor quota of a new file when the operator does not say: two jobs of the maximum flavor. */
const DEFAULT_MAX_FLAVOR_JOBS = 2

/**
 * Registers a runner and writes its `[[runners]]` section, in gitlab-runner's order: URL, token
 * (checked with GitLab at once), name (a legacy registration token registers the runner now),
 * executor and its own questions, maximum flavor and quota. Every `--set` key is checked first.
 * The file is written last, mode 0600; an existing file keeps its text byte for byte. On any error
 * after a registration, the runner just made is unregistered again.
 */
export async function registerRunner(d: RegisterDeps): Promise<RegisterResult> {
  const g = d.given
  const progress = d.progress ?? (() => {})
  const ask = async <T>(
    what: string,
    flag: string,
    value: T | undefined,
    prompt: (p: Prompter) => Promise<T>,
  ): Promise<T> => {
    if (value !== undefined) return value
    if (!d.prompter) throw new RegisterUsageError(`${what} is missing: give ${flag} (non-interactive mode)`)
    return prompt(d.prompter)
  }
  const check = <T>(problem: string | undefined, value: T): T => {
    if (problem) throw new RegisterUsageError(problem)
    return value
  }

  // Everything that can be checked without a question or a network call, first.
  const settings = g.settings.map(splitSetting)
  if (g.executor !== undefined && !d.executors.has(g.executor)) throw unknownExecutor(g.executor, d.executors)
  sortSettings(settings, d.executors, g.executor)
  if (g.url !== undefined) check(urlProblem(g.url, '--url'), g.url)
  if (g.name !== undefined) check(nameProblem(g.name, '--name'), g.name)
  if (g.token !== undefined && g.registrationToken !== undefined)
    throw new RegisterUsageError('give --token or --registration-token, not both')

  const configPath = resolve(
    await ask(
      'the configuration file',
      '--config',
      g.configPath ?? (d.prompter ? undefined : d.defaultConfigPath),
      (p) =>
        p.input('Configuration file (created if absent, else a [[runners]] section is appended)', {
          default: d.remembered.configPath ?? d.defaultConfigPath,
          validate: required,
        }),
    ),
  )
  const created = await checkWritable(configPath)
  const before = created ? '' : await readFile(configPath, 'utf8')
  if (!created) parseExisting(configPath, before)

  const url = (
    await ask('the GitLab URL', '--url', g.url, (p) =>
      p.input('GitLab / Heptapod instance URL (for example, https://heptapod.example.com)', {
        ...(d.remembered.url ? {default: d.remembered.url} : {}),
        validate: (v) => urlProblem(v.trim(), 'the URL'),
      }),
    )
  ).trim()
  check(urlProblem(url, 'the URL'), url)

  const given = g.token ?? g.registrationToken
  const token = (
    await ask('the token', '--token (or --registration-token)', given, (p) =>
      p.secret('Runner authentication token (glrt-…, of a runner created in GitLab) or legacy registration token', {
        validate: (v) => tokenProblem(v.trim()),
      }),
    )
  ).trim()
  check(tokenProblem(token), token)
  const verifyIt =
    g.registrationToken !== undefined
      ? token.startsWith('glrt')
      : g.token !== undefined
        ? !token.startsWith('GR1348941')
        : token.startsWith('glrt')

  let registration: Registration | undefined
  let cleanup = async (): Promise<void> => {}
  if (verifyIt) {
    // A typo in the token is found now, before any other question.
    registration = await talk(
      url,
      () => d.coordinator.verify(url, token),
      'this runner authentication token is unknown, expired or revoked',
    )
    cleanup = async () => d.coordinator.unregister(url, token).catch(() => {})
    progress(`Token verified: runner ${registration.id} (short token ${shortToken(token)}).`)
    if (!created)
      await refuseSameShortToken(configPath, before, token).catch(async (error: unknown) => {
        await cleanup()
        throw error
      })
  }

  try {
    const name = (
      await ask('the runner name', '--name', g.name, (p) =>
        p.input(
          'Runner name (stored in the configuration file; for a legacy registration, also its description in GitLab)',
          {default: d.defaultName, validate: (v) => nameProblem(v.trim(), 'the name')},
        ),
      )
    ).trim()
    check(nameProblem(name, 'the name'), name)

    if (!registration) {
      registration = await talk(
        url,
        () =>
          d.coordinator.register(url, {
            registrationToken: token,
            description: name,
            paused: g.paused ?? false,
            ...(g.locked === undefined ? {} : {locked: g.locked}),
            ...(g.runUntagged === undefined ? {} : {runUntagged: g.runUntagged}),
            ...(g.tagList === undefined ? {} : {tagList: g.tagList}),
            ...(g.executor === undefined ? {} : {innerRunner: innerRunnerOf(d.executors.get(g.executor))}),
          }),
        'this registration token is not valid',
      )
      const made = registration
      cleanup = async () => d.coordinator.unregister(url, made.token, {wholeRunner: true}).catch(() => {})
      progress(`Runner ${registration.id} registered${g.paused ? ' (paused)' : ''}.`)
    }
    const reg = registration

    const names = [...d.executors.keys()]
    const executorName = await ask('the executor', '--executor', g.executor, (p) =>
      p.choice(
        'Executor',
        names.map((n) => ({name: `${n}: ${d.executors.get(n)!.description}`, value: n})),
      ),
    )
    const factory = d.executors.get(executorName)
    if (!factory) throw unknownExecutor(executorName, d.executors)
    const sorted = sortSettings(settings, d.executors, executorName)
    if (!created && Object.keys(sorted.global).length > 0) {
      throw new RegisterUsageError(
        `--set ${Object.keys(sorted.global).join(', ')}: global keys are written only into a new file; edit ${configPath} for them`,
      )
    }

    const answers = await executorAnswers(factory, sorted, d.prompter)
    const warnings: string[] = []
    const base = {name, url, token: reg.token, executor: executorName}
    const section: Record<string, unknown> = mergeTables(factory.registration?.defaults ?? {}, answers, sorted.runner)

    // The heaviest flavor, and a quota it fits in.
    const runnerConfig = runnerFor(factory, base, section)
    const flavors = await listFlavors(factory, runnerConfig, d, warnings)
    const maxKey = factory.registration?.maxFlavorKey
    const preset =
      g.maxFlavor ?? (maxKey && typeof section[maxKey] === 'string' ? (section[maxKey] as string) : undefined)
    let maxFlavor: Flavor | undefined
    if (flavors.length > 0) {
      const heaviest = flavors.reduce((a, b) => (b.weight > a.weight ? b : a))
      // Asked when the executor has such a key; without an answer (non-interactive), the heaviest: every job fits.
      const chosen =
        preset ??
        (maxKey && d.prompter
          ? await d.prompter.choice(
              'Heaviest flavor a job may ask for (CI_CLEVER_CLOUD_FLAVOR); the quota is sized so that it fits',
              flavors.map((f) => ({
                name: `${f.name.padEnd(4)} ${formatRam(f.ramMiB)} RAM${f.cpus ? `, ${f.cpus} CPUs` : ''}, weight ${formatWeight(f.weight)}`,
                value: f.name,
              })),
              {default: heaviest.name},
            )
          : heaviest.name)
      maxFlavor = flavors.find((f) => f.name === chosen)
      if (!maxFlavor)
        throw new RegisterUsageError(
          `unknown flavor '${chosen}' for --max-flavor; flavors of this runner: ${flavors.map((f) => f.name).join(', ')}`,
        )
      if (maxKey) section[maxKey] = maxFlavor.name
    } else if (preset !== undefined && maxKey) {
      section[maxKey] = preset
    }

    let quota: {total: number; explanation: string} | undefined
    let header = ''
    if (created) {
      const refFlavor =
        maxFlavor?.name ?? preset ?? factory.registration?.referenceFlavor ?? factory.staticFlavors?.[0]?.name ?? 'M'
      const smallest = flavors.length ? flavors.reduce((a, b) => (b.weight < a.weight ? b : a)) : undefined
      const jobs =
        g.maxFlavorJobs ??
        (d.prompter && maxFlavor
          ? Number(
              await d.prompter.input(
                `How many jobs of flavor ${maxFlavor.name} may run at once? (the weighted quota: 1 job = ${formatWeight(maxFlavor.weight)}${smallest && smallest !== maxFlavor ? `, room for ${jobsFitting(maxFlavor.weight, smallest)} jobs of flavor ${smallest.name}` : ''})`,
                {default: String(DEFAULT_MAX_FLAVOR_JOBS), validate: positiveProblem},
              ),
            )
          : DEFAULT_MAX_FLAVOR_JOBS)
      check(positiveProblem(String(jobs)), jobs)
      if (maxFlavor)
        quota = computeWeightedQuota(
          {referenceRunner: name, referenceFlavor: maxFlavor.name, referenceJobsCount: jobs},
          new Map([[maxFlavor.name, maxFlavor]]),
        )
      const globals = {
        concurrent: g.concurrent ?? 50,
        state_file: g.stateFile ?? defaultStateFile(configPath).path,
        ...sorted.global,
        quota_computation: {reference_runner: name, reference_flavor: refFlavor, reference_jobs_count: jobs},
      }
      header = `# Written by \`heptapod-paas-runner register\` (see the README for every key).\n${stringify(globals)}\n`
    } else if (maxFlavor) {
      quota = await existingQuota(configPath, before, d, warnings)
      if (quota && quota.total + 1e-9 < maxFlavor.weight)
        warnings.push(quotaTooSmall(configPath, before, quota, maxFlavor, name))
    }

    // As gitlab-runner writes a section: name, url, id, token…, executor; then the executor's keys.
    const runner = {
      name,
      url,
      id: reg.id,
      token: reg.token,
      token_obtained_at: new Date(d.now()),
      ...(reg.tokenExpiresAt ? {token_expires_at: new Date(reg.tokenExpiresAt)} : {}),
      executor: executorName,
      ...section,
    }
    const text = stringify({runners: [runner]})
    const next = created
      ? `${header}\n${text}\n`
      : `${before}${before === '' || before.endsWith('\n') ? '' : '\n'}\n${text}\n`
    checkResult(configPath, next, d.executors, created ? 0 : countRunners(before), warnings)

    if (created) await writeFile(configPath, next, {mode: 0o600, flag: 'wx'})
    else await appendFile(configPath, next.slice(before.length))
    // It holds tokens: only its owner reads it, whatever mode it had.
    await chmod(configPath, 0o600)
    return {
      configPath,
      created,
      registration: reg,
      url,
      name,
      executor: executorName,
      shortToken: shortToken(reg.token),
      registered: !verifyIt,
      paused: !verifyIt && (g.paused ?? false),
      ...(maxFlavor ? {maxFlavor: {name: maxFlavor.name, weight: maxFlavor.weight}} : {}),
      ...(quota ? {quota} : {}),
      warnings,
    }
  } catch (error) {
    await cleanup()
    if (error instanceof PaasRunnerError && registration && !verifyIt)
      error.message += ' The runner just registered was unregistered again.'
    throw error
  }
}

/** One GitLab call of registration, its errors said plainly. */
async function talk(url: string, call: () => Promise<Registration>, refused: string): Promise<Registration> {
  try {
    return await call()
  } catch (error) {
    if (error instanceof CoordinatorError) {
      if (error.kind === 'token_revoked')
        throw new RegisterError(`GitLab refused the token: ${refused}. Nothing was written.`)
      if (error.kind === 'unavailable')
        throw new RegisterError(`cannot reach ${url}: ${error.message}. Nothing was written.`)
      throw new RegisterError(`${error.message}. Nothing was written.`)
    }
    throw error
  }
}

/** The executor's own questions; answers given with `--set` are not asked. */
async function executorAnswers(
  factory: ExecutorFactory,
  sorted: SortedSettings,
  prompter: Prompter | undefined,
): Promise<Record<string, unknown>> {
  const answers: Record<string, unknown> = {}
  for (const q of factory.registration?.questions ?? []) {
    const view = {...answers, ...sorted.runner}
    if (q.when && !q.when(view)) continue
    if (q.key in sorted.runner) {
      const v = sorted.runner[q.key]
      const problem = typeof v === 'string' ? q.validate?.(v) : undefined
      if (problem) throw new RegisterUsageError(`--set ${q.key}: ${problem}`)
      continue
    }
    if (!prompter) throw new RegisterUsageError(`${q.key} is missing: give --set ${q.key}=… (non-interactive mode)`)
    answers[q.key] =
      q.kind === 'choice'
        ? await prompter.choice(q.message, q.choices ?? [])
        : q.kind === 'secret'
          ? (await prompter.secret(q.message, {validate: q.validate ?? required})).trim()
          : (await prompter.input(q.message, {validate: q.validate ?? required})).trim()
  }
  return answers
}

/** The runner as the executor would see it, to list its flavors. A usage error when its keys do not validate. */
function runnerFor(
  factory: ExecutorFactory,
  base: {name: string; url: string; token: string; executor: string},
  section: Record<string, unknown>,
): RunnerConfig {
  const keys = Object.keys(factory.configSchema.shape)
  const parsed = factory.configSchema.safeParse(
    Object.fromEntries(Object.entries(section).filter(([k]) => keys.includes(k))),
  )
  if (!parsed.success) {
    throw new RegisterUsageError(
      `executor ${factory.name}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(section)'}: ${i.message}`).join('; ')}`,
    )
  }
  return {
    index: 0,
    name: base.name,
    url: base.url,
    token: base.token,
    executor: base.executor,
    uniqueName: shortToken(base.token),
    executorConfig: parsed.data,
    forwarded: {},
  }
}

/** The runner's flavors, lightest first: live, else static, else the executor's usual ones (with a warning). */
async function listFlavors(
  factory: ExecutorFactory,
  runner: RunnerConfig,
  d: RegisterDeps,
  warnings: string[],
): Promise<Flavor[]> {
  const sort = (l: Iterable<Flavor>): Flavor[] => [...l].sort((a, b) => a.weight - b.weight)
  if (factory.staticFlavors?.length) return sort(factory.staticFlavors)
  try {
    const executor = factory.create(runner, d.executorDeps(runner))
    await executor.ready?.()
    return sort((await executor.flavors(AbortSignal.timeout(d.flavorsTimeoutMs ?? 15_000))).values())
  } catch (error) {
    const known = factory.registration?.knownFlavors ?? []
    warnings.push(
      `could not list the flavors of ${factory.name} (${error instanceof Error ? error.message : String(error)})${known.length ? '; offered its usual flavors instead' : ''}: check the quota with \`heptapod-paas-runner quota\``,
    )
    return sort(known)
  }
}

/** The quota of an existing file, when its reference runner's flavors can be listed. */
async function existingQuota(
  path: string,
  text: string,
  d: RegisterDeps,
  warnings: string[],
): Promise<{total: number; explanation: string} | undefined> {
  try {
    const config = parseConfig(text, {
      file: path,
      executors: d.executors,
      defaultStateFile: defaultStateFile(path).path,
    })
    const qc = config.quotaComputation
    const ref = config.runners.find((r) => r.name === qc.referenceRunner)!
    const factory = d.executors.get(ref.executor)!
    const flavors = factory.staticFlavors?.length
      ? new Map(factory.staticFlavors.map((f) => [f.name, f]))
      : await (async () => {
          const ex = factory.create(ref, d.executorDeps(ref))
          await ex.ready?.()
          return ex.flavors(AbortSignal.timeout(d.flavorsTimeoutMs ?? 15_000))
        })()
    return computeWeightedQuota(qc, flavors)
  } catch (error) {
    warnings.push(
      `could not check that a job of this runner fits in the quota of ${path} (${error instanceof ConfigError ? 'the file does not load yet' : error instanceof Error ? error.message : String(error)}): check with \`heptapod-paas-runner quota ${path}\``,
    )
    return undefined
  }
}

/** The loud warning: this runner could never take a job; and the fix, with figures. */
function quotaTooSmall(
  path: string,
  text: string,
  quota: {total: number; explanation: string},
  max: Flavor,
  name: string,
): string {
  const qc = (parseToml(text) as {quota_computation?: {reference_jobs_count?: number}}).quota_computation
  const count = qc?.reference_jobs_count
  const perJob = typeof count === 'number' && count > 0 ? quota.total / count : undefined
  const needed = perJob ? Math.ceil(max.weight / perJob - 1e-9) : undefined
  return (
    `THIS RUNNER WOULD NEVER TAKE A JOB: the weighted quota of ${path} is ${formatWeight(quota.total)} (${quota.explanation}), ` +
    `less than one job of its maximum flavor ${max.name} (weight ${formatWeight(max.weight)}). Fix: in [quota_computation] of ${path}, ` +
    (needed ? `set reference_jobs_count = ${needed} (quota ${formatWeight(perJob! * needed)}), or ` : '') +
    `set reference_runner = "${name}", reference_flavor = "${max.name}" and reference_jobs_count to the number of such jobs that may run at once; ` +
    `or register again with a lighter --max-flavor. Then check with \`heptapod-paas-runner quota ${path}\` and reload the daemon (SIGHUP).`
  )
}

/**
 * The file as it will be written must load: a problem of the new section or of the quota is a
 * usage error (nothing written); a problem elsewhere in an existing file is only a warning.
 */
function checkResult(
  path: string,
  text: string,
  executors: ReadonlyMap<string, ExecutorFactory>,
  index: number,
  warnings: string[],
): void {
  try {
    const c = parseConfig(text, {file: path, executors, defaultStateFile: defaultStateFile(path).path})
    for (const w of c.warnings) if (w.path.startsWith(`runners[${index}]`)) warnings.push(formatIssue(path, w))
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    const ours = error.issues.filter((i) => i.path.startsWith(`runners[${index}]`))
    if (ours.length > 0)
      throw new RegisterUsageError(
        `the new section would not load:\n${ours.map((i) => `  ${i.path}: ${i.message}`).join('\n')}\nNothing was written.`,
      )
    warnings.push(`${path} needs completing before \`run\`:\n${error.message}`)
  }
}

function countRunners(text: string): number {
  try {
    const runners = (parseToml(text) as {runners?: unknown}).runners
    return Array.isArray(runners) ? runners.length : 0
  } catch {
    return 0
  }
}

/** An existing file must parse as TOML: appending to a broken one would hide its error. */
function parseExisting(path: string, text: string): void {
  try {
    parseToml(text)
  } catch {
    throw new RegisterUsageError(
      `${path} is not valid TOML: fix it before adding a runner (\`heptapod-paas-runner quota ${path}\` says where). Nothing was written.`,
    )
  }
}

/**
 * The short token names resources and state records: two runners of one file must not share it
 * (the daemon would refuse the file). Checked before anything is written.
 */
async function refuseSameShortToken(configPath: string, text: string, token: string): Promise<void> {
  const doc = parseToml(text) as {runners?: unknown}
  const short = shortToken(token)
  const runners = Array.isArray(doc.runners) ? (doc.runners as Array<Record<string, unknown>>) : []
  const same = runners.findIndex((r) => typeof r?.token === 'string' && shortToken(r.token) === short)
  if (same >= 0) {
    const name = typeof runners[same]!.name === 'string' ? ` ('${runners[same]!.name as string}')` : ''
    throw new RegisterError(
      `runners[${same}]${name} of ${configPath} has the same short token '${short}': this runner is already in the file. Nothing was written.`,
    )
  }
}

/** Defaults, then answers, then `--set`; tables (cc_extra_env…) are merged, not replaced. */
function mergeTables(...layers: Array<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer)) {
      const prev = out[k]
      out[k] = isTable(prev) && isTable(v) ? mergeTables(prev, v) : v
    }
  }
  return out
}

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date)
}

function unknownExecutor(name: string, executors: ReadonlyMap<string, ExecutorFactory>): RegisterUsageError {
  return new RegisterUsageError(
    `unknown executor '${name}'; installed executors: ${[...executors.keys()].join(', ')} (see \`heptapod-paas-runner executors\`)`,
  )
}

// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/

const required = (v: string): string | undefined => (v.trim() === '' ? 'required' : undefined)

/** An http(s) URL without credentials (a token goes with --token, never in a URL). */
export function urlProblem(v: string, what: string): string | undefined {
  if (CONTROL.test(v) || /\s/.test(v)) return `${what} must not contain spaces or control characters`
  let u: URL
  try {
    u = new URL(v)
  } catch {
    return `${what} must be an http(s) URL such as https://gitlab.example.com`
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:')
    return `${what} must be an http(s) URL such as https://gitlab.example.com`
  if (u.username || u.password)
    return `${what} must not contain credentials (user:password@): the runner authenticates with its token`
  if (u.search || u.hash) return `${what} must not have a query or a fragment`
  return undefined
}

/** A name the file, the logs and the TUI can show: 1 to 255 characters, no control character. */
export function nameProblem(v: string, what: string): string | undefined {
  if (v.trim() === '') return `${what} is empty`
  if (CONTROL.test(v)) return `${what} must not contain control characters (tabs, newlines, escapes)`
  if (v.length > 255) return `${what} is longer than 255 characters`
  return undefined
}

function tokenProblem(v: string): string | undefined {
  if (v === '') return 'required'
  if (/\s/.test(v) || CONTROL.test(v)) return 'a token has no spaces or control characters'
  if (v.length < 8) return 'too short to be a GitLab token'
  return undefined
}

function positiveProblem(v: string): string | undefined {
  const n = Number(v)
  return Number.isInteger(n) && n >= 1 && n <= 10_000 ? undefined : 'a whole number from 1 to 10000'
}

function formatRam(mib: number): string {
  return `${(mib / 1024).toFixed(mib % 1024 ? 1 : 0)} GiB`
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
    throw new RegisterError(
      exists
        ? `${path} is not readable and writable by this user`
        : `the directory ${dir} is not writable by this user`,
    )
  }
  return !exists
}

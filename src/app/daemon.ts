import {innerRunnerOf} from '@heptapod-paas-runner/plugin-api'

import type {RunnerConfig} from '../core/config/config-types.js'
import type {Logger} from '../core/logger.js'
import {Dispatcher, type RunnerUnit} from '../core/dispatcher/dispatcher.js'
import type {DispatcherOptions} from '../core/dispatcher/dispatcher-options.js'
import type {JobStatePort, LoadReport} from '../core/state/state-port.js'
import type {ClusterPort} from '../core/state/cluster-port.js'
import {clusterSettings, diffSettings} from '../core/state/cluster-settings.js'
import {describeReload, planReload} from '../core/dispatcher/reload-plan.js'
import type {ExecutorDeps} from '../core/executor.js'
import {StateStore} from '../core/state/state-store.js'
import {makeGitLabClient, newSystemId} from '../adapters/gitlab/make-gitlab-client.js'
import {FsStateFile} from '../adapters/state/fs-state-file.js'
import {realClock} from '../adapters/clock/real-clock.js'
import {lockStateFile, type StateFileLock} from '../adapters/state/state-file-lock.js'
import {Metrics} from '../adapters/observability/metrics.js'
import {startStatusServer} from '../adapters/observability/status-server.js'
import {ConfigError, PaasRunnerError} from '../core/errors.js'
import {startControlSocket, type ControlSocket} from '../adapters/observability/control-socket.js'
import {controlSocketPath} from '../adapters/observability/control-socket-path.js'
import {writeLastQuota} from '../adapters/state/last-quota-file.js'
import {startupError} from './startup-errors.js'
import {createExecutors, defaultExecutorDeps, type LoadedConfig} from './runtime.js'

export interface Daemon {
  dispatcher: Dispatcher
  store: JobStatePort
  /** Where /metrics, /status and /healthz are served, when `listen_address` is set. */
  statusUrl?: string
  /** The control socket serving the same (mode 0600), unless its path is too long. */
  socketPath?: string
  /**
   * Loads the configuration again and applies it (SIGHUP): runners added, removed or changed,
   * limits, the quota. A configuration that does not load or does not apply is refused with an
   * error line, and the running one is kept. Never throws; reloads never overlap.
   */
  reload(load: () => Promise<LoadedConfig>): Promise<boolean>
  /** Graceful stop, then the state file is closed. */
  stop(reason: string): Promise<void>
}

/**
 * The composition of the daemon: state file, executors, GitLab client, dispatcher.
 * Everything the `run` and `demo` commands share; they only add signals and rendering.
 */
export async function startDaemon(
  loaded: LoadedConfig,
  logger: Logger,
  options: Partial<DispatcherOptions> = {},
): Promise<Daemon> {
  const {config} = loaded
  if (config.stateUrl) return startWithDatabase(loaded, logger, options, config.stateUrl)
  if (loaded.legacyStateFile) {
    logger.warn(
      `using ${loaded.legacyStateFile}, the default state file of earlier versions; the default is now <config name>.state.json, so that two config files never share one: set state_file, or rename it`,
      {stateFile: loaded.legacyStateFile},
    )
  }
  let lock: StateFileLock
  try {
    lock = await lockStateFile(config.stateFile)
  } catch (error) {
    throw startupError(config.file, 'state_file', config.stateFile, 'cannot open the state file', error)
  }
  if (lock.tookOverFrom !== undefined)
    logger.warn('took over the state file lock of a daemon that is no longer running (killed?)', {
      lock: lock.path,
      deadPid: lock.tookOverFrom,
    })
  try {
    let opened
    try {
      opened = await StateStore.open(new FsStateFile(config.stateFile), {now: Date.now})
    } catch (error) {
      throw startupError(config.file, 'state_file', config.stateFile, 'cannot open the state file', error)
    }
    if (opened.report.fresh) logger.info('no state file yet: starting afresh', {stateFile: config.stateFile})
    return await startWithStore(loaded, logger, options, opened, () => lock.release())
  } catch (error) {
    await lock.release()
    throw error
  }
}

/** The PostgreSQL state store (`state_url`): the database's own lock replaces the file lock. */
async function startWithDatabase(
  loaded: LoadedConfig,
  logger: Logger,
  options: Partial<DispatcherOptions>,
  url: string,
): Promise<Daemon> {
  const {config} = loaded
  let opened
  // Intake stops the moment the store's connection drops, not at the next lease renewal.
  const hooks = {unreachable: () => {}}
  try {
    // Loaded only with state_url: the PostgreSQL client costs a quarter of a second at start.
    const {PgStateStore} = await import('../adapters/state/pg/pg-state-store.js')
    opened = await PgStateStore.open({
      url,
      schema: config.stateSchema,
      runnerTokens: new Map(config.runners.map((r) => [r.uniqueName, r.token])),
      now: Date.now,
      onConnectionError: (e) => {
        logger.warn('lost the connection to the state database; the next change reconnects', {
          error: loaded.redactor.redact(e.message),
        })
        hooks.unreachable()
      },
      member: {leaseMs: config.clusterLeaseSeconds * 1000, settings: clusterSettings(config)},
    })
  } catch (error) {
    throw databaseStartupError(config.file, error)
  }
  if (opened.report.fresh)
    logger.info('new state schema in the database: starting afresh', {
      state: opened.store.path,
      schema: config.stateSchema,
    })
  const cluster = opened.store.cluster!
  logger.info(
    `joined the cluster of schema ${config.stateSchema} as ${cluster.daemonId} (lease ${config.clusterLeaseSeconds} s)`,
    {state: opened.store.path, adopted: opened.store.records.size},
  )
  // Leaving ends the lease at once: the jobs this daemon still holds are adopted by the others.
  const leave = async (): Promise<void> => {
    await cluster.leave().catch((error: unknown) =>
      logger.warn('could not leave the cluster; its lease expires by itself', {
        error: loaded.redactor.redact(String(error)),
      }),
    )
    await cluster.close()
  }
  try {
    return await startWithStore(loaded, logger, options, opened, leave, cluster, hooks)
  } catch (error) {
    await leave()
    await opened.store.close()
    throw error
  }
}

/** A database that cannot be reached at start is a problem of `state_url` (exit 2), said without its password. */
function databaseStartupError(configFile: string, error: unknown): unknown {
  if (error instanceof PaasRunnerError) return error
  const e = error as Error & {code?: string}
  if (typeof e?.message !== 'string') return error
  return new ConfigError(configFile, [
    {path: 'state_url', message: `cannot open the state database: ${e.message}${e.code ? ` (${e.code})` : ''}`},
  ])
}

async function startWithStore(
  loaded: LoadedConfig,
  logger: Logger,
  options: Partial<DispatcherOptions>,
  opened: {store: JobStatePort; report: LoadReport},
  release: () => Promise<void>,
  cluster?: ClusterPort,
  hooks?: {unreachable: () => void},
): Promise<Daemon> {
  const {config, redactor} = loaded
  const {store, report} = opened
  if (report.importedFrom)
    logger.warn('imported the state file of the original heptapod-paas-runner; a copy of it was kept', {
      copy: report.importedFrom,
    })
  for (const w of report.warnings) logger.warn(w)
  for (const e of report.errors) logger.error(e)
  if (report.backup)
    logger.warn('the state file as it was before the torn writes were cut is kept', {copy: report.backup})
  if (!store.systemId) await store.setSystemId(newSystemId())
  let metrics: Metrics | undefined
  // GitLab is told how each runner's jobs run as its executor declares it (docker by default); reloads update it.
  let current = loaded
  const byUniqueName = (u: string | undefined): RunnerConfig | undefined =>
    current.config.runners.find((r) => r.uniqueName === u)
  const coordinator = makeGitLabClient({
    systemId: store.systemId!,
    innerRunner: (endpoint) => {
      const r = byUniqueName(endpoint.uniqueName)
      return r ? innerRunnerOf(current.discovery.executors.get(r.executor)?.factory) : undefined
    },
    onExchange: (endpoint, outcome) => metrics?.coordinatorRequests.inc({endpoint, status: String(outcome)}),
    onRateLimited: (e) => {
      logger.warn(`GitLab rate limit: calls of this kind wait ${Math.ceil(e.waitMs / 1000)} s, as the server asked`, {
        remote: e.key,
      })
      metrics?.rateLimitEpisodes.inc({remote: 'gitlab'})
    },
  })
  const depsFor = (r: RunnerConfig): ExecutorDeps => ({
    ...defaultExecutorDeps(logger.child({runner: r.uniqueName}), redactor),
    owner: {systemId: store.systemId!, runner: r.uniqueName},
    onApiExchange: (endpoint, outcome) => metrics?.paasRequests.inc({endpoint, status: String(outcome)}),
    onRateLimited: () => metrics?.rateLimitEpisodes.inc({remote: 'paas'}),
    groupAttributes: (namespace, token, signal) =>
      coordinator.groupAttributes(r.url, namespace, token, signal ? {signal} : {}),
    jobLog: (jobId, line) => dispatcher?.reports.jobLog(r.uniqueName, jobId, line),
    resourceFailed: (jobId, reason) => dispatcher?.reports.resourceFailed(r.uniqueName, jobId, reason),
  })
  // Executors report to the dispatcher, made after them: the late binding is only called once jobs run.
  let dispatcher: Dispatcher | undefined = undefined
  const executors = await createExecutors(loaded, (i) => depsFor(config.runners[i]!))
  dispatcher = new Dispatcher({
    config,
    runners: config.runners.map((r, i) => ({config: r, executor: executors[i]!})),
    coordinator,
    store,
    ...(cluster ? {cluster} : {}),
    clock: realClock,
    random: Math.random,
    logger,
    redact: (s) => redactor.redact(s),
    addSecret: (s) => redactor.add(s),
    retireSecret: (s) => redactor.retire(s),
    options,
  })
  if (hooks) hooks.unreachable = () => dispatcher.stateUnreachable()
  metrics = new Metrics(dispatcher, dispatcher.events)
  // The quota is kept beside the state file, so `status` shows the last one when no daemon runs.
  dispatcher.events.on((e) => {
    if (e.type === 'quota')
      writeLastQuota(config.stateFile, {total: e.total, explanation: e.explanation, at: e.at}).catch((error: unknown) =>
        logger.warn('cannot keep the quota beside the state file', {error}),
      )
  })
  let socket: ControlSocket | undefined
  let server: Awaited<ReturnType<typeof startStatusServer>> | undefined
  try {
    socket = await startControlSocket(controlSocketPath(config.stateFile), dispatcher, metrics, redactor).catch(
      (error: unknown) => {
        logger.warn('no control socket: `status` will not reach this daemon unless listen_address is set', {error})
        return undefined
      },
    )
    if (config.listenAddress) {
      server = await startStatusServer(config.listenAddress, dispatcher, metrics, redactor, {logger}).catch(
        (error: unknown) => {
          throw startupError(config.file, 'listen_address', config.listenAddress!, 'cannot listen on', error)
        },
      )
      logger.info(`serving /metrics, /status and /healthz on ${server.url}`)
    }
    await dispatcher.start()
  } catch (error) {
    await server?.close()
    await socket?.close()
    await store.close()
    throw error
  }
  let reloading: Promise<boolean> = Promise.resolve(true)
  const reload = async (load: () => Promise<LoadedConfig>): Promise<boolean> => {
    try {
      const next = await load()
      if (cluster) {
        // Every daemon of a cluster runs the same runners and limits: a reload of one alone would split them.
        const differences = diffSettings(clusterSettings(next.config), clusterSettings(dispatcher.currentConfig))
        if (differences.length > 0) {
          throw new Error(
            `in a cluster, the runners, [quota_computation], concurrent and paas_max_concurrent_provisioning change only by restarting every daemon with the new configuration: ${differences.join('; ')}`,
          )
        }
      }
      const plan = planReload(dispatcher.currentConfig, next.config)
      const fresh = [...plan.added, ...plan.changed]
      const made = await createExecutors({...next, config: {...next.config, runners: fresh}}, (i) =>
        depsFor(next.config.runners[i]!),
      )
      const units: RunnerUnit[] = fresh.map((r, i) => ({config: r, executor: made[i]!}))
      await dispatcher.reconfigure(next.config, units)
      current = next
      logger.warn(`configuration reloaded: ${describeReload(plan)}`, {file: next.config.file})
      for (const c of plan.needsRestart) {
        logger.warn(
          `${c.key} changed in the configuration: it applies at the next restart; ${JSON.stringify(c.from ?? null)} stays in force until then`,
        )
      }
      return true
    } catch (error) {
      const why = error instanceof ConfigError ? error.message : error instanceof Error ? error.message : String(error)
      logger.error(`configuration reload refused, the running configuration is kept: ${why}`)
      return false
    }
  }
  return {
    dispatcher,
    store,
    ...(server ? {statusUrl: server.url} : {}),
    ...(socket ? {socketPath: socket.path} : {}),
    reload(load) {
      reloading = reloading.then(() => reload(load))
      return reloading
    },
    async stop(reason: string) {
      await dispatcher.shutdown(reason)
      await server?.close()
      await socket?.close()
      // Every change is committed before the cluster is left: the others adopt from there.
      await store.close()
      await release()
    },
  }
}

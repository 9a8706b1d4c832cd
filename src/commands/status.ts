import {Flags} from '@oclif/core'

import {controlSocketPath, getFromSocket} from '../adapters/observability/control-socket.js'
import {parseListenAddress} from '../adapters/observability/status-server.js'
import {FsStateFile} from '../adapters/state/fs-state-file.js'
import {readLastQuota} from '../adapters/state/last-quota-file.js'
import {BaseCommand} from '../cli/base-command.js'
import {configArg, configFlag, resolveConfigPath} from '../cli/common-flags.js'
import {snapshotFromState} from '../core/dispatcher/state-snapshot.js'
import type {DispatcherSnapshot} from '../core/events.js'
import {formatWeight} from '../core/quota/flavor-weight.js'
import {StateStore} from '../core/state/state-store.js'
import {snapshotSchema, type StatusReport} from '../core/status-schema.js'

export default class Status extends BaseCommand {
  static override description = `Show what the daemon is doing: each runner's jobs (id, project, phase, flavor, weight, age, resource), quota and slots in use, intake state, pending deletions and recent failures.

Asks the running daemon on its control socket (next to the state file), else on listen_address; when no daemon answers, reads the state file and says so.

Exit codes, as systemctl status: 0 when a daemon answered, 3 when none runs.`

  static override args = {
    config: configArg,
  }

  static override flags = {
    config: configFlag,
    json: Flags.boolean({description: 'print the report as JSON (same schema as /status, wrapped with its source)'}),
  }

  async run(): Promise<StatusReport> {
    const {args, flags} = await this.parse(Status)
    const {config} = await this.loadConfig(resolveConfigPath(args.config, flags.config))
    const socket = controlSocketPath(config.stateFile)
    let report: StatusReport | undefined
    let why = `no daemon answers on ${socket}${config.listenAddress ? ' nor on listen_address' : ''}`
    try {
      const res = await getFromSocket(socket, '/status')
      const parsed = snapshotSchema.safeParse(JSON.parse(res.body))
      if (res.status === 200 && parsed.success)
        report = {source: 'daemon', from: socket, snapshot: parsed.data as DispatcherSnapshot}
    } catch {
      // no daemon there: try listen_address, then the state file
    }
    if (!report && config.listenAddress) {
      const {host, port} = parseListenAddress(config.listenAddress)
      const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/status`
      try {
        const res = await fetch(url, {signal: AbortSignal.timeout(1500)})
        const parsed = snapshotSchema.safeParse(await res.json())
        if (res.ok && parsed.success)
          report = {source: 'daemon', from: url, snapshot: parsed.data as DispatcherSnapshot}
        else why = `${url} answered ${res.status} without a valid snapshot`
      } catch {
        // nothing there either
      }
    }
    if (!report && config.stateUrl) {
      // Loaded only here: the PostgreSQL client costs a quarter of a second at start.
      const {PgStateStore} = await import('../adapters/state/pg/pg-state-store.js')
      const store = await PgStateStore.inspect({url: config.stateUrl, schema: config.stateSchema, now: Date.now})
      report = {
        source: 'database',
        from: store.path,
        snapshot: snapshotFromState(config, store, Date.now(), 'no daemon runs'),
        ...(store.clusterView ? {cluster: store.clusterView} : {}),
      }
    }
    if (!report) {
      const store = await StateStore.inspect(new FsStateFile(config.stateFile), {now: Date.now})
      const snapshot = snapshotFromState(config, store, Date.now(), 'no daemon runs')
      const last = await readLastQuota(config.stateFile)
      if (last)
        snapshot.quota = {
          ...snapshot.quota,
          total: last.total,
          explanation: `${last.explanation} (last known, ${new Date(last.at).toISOString()})`,
        }
      report = {source: 'state-file', from: config.stateFile, snapshot}
    }
    const safe = this.redactor.redactValue(report)
    if (flags.json) this.log(JSON.stringify(safe, null, 2))
    else this.log(render(safe, why))
    if (safe.source !== 'daemon') this.exit(EXIT_NOT_RUNNING)
    return safe
  }
}

/** `status` without a running daemon, as `systemctl status` says "inactive". */
export const EXIT_NOT_RUNNING = 3

function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}

/** The daemons of the cluster, their leases and the jobs each holds. */
function renderCluster(c: NonNullable<StatusReport['cluster']>, now: number): string[] {
  const live = c.daemons.filter((d) => d.state === 'live').length
  const lines = [
    `Cluster: ${live} live daemon(s) of ${c.daemons.length} known${c.sweeper ? `; orphan sweeper ${c.sweeper}` : ''}`,
  ]
  lines.push(`  ${'DAEMON'.padEnd(36)}${'STATE'.padEnd(9)}${'LEASE'.padEnd(16)}JOBS`)
  for (const d of c.daemons) {
    const lease = d.state === 'live' ? `${age(d.leaseUntil - now)} left` : `ended ${age(now - d.leaseUntil)} ago`
    lines.push(`  ${d.id.slice(0, 35).padEnd(36)}${d.state.padEnd(9)}${lease.padEnd(16)}${d.jobs}`)
  }
  const unheld = Object.entries(c.holders)
    .filter(([, h]) => h === null)
    .map(([k]) => k)
  if (unheld.length)
    lines.push(`  held by no daemon yet (the first live daemon adopts them): ${unheld.slice(0, 20).join(', ')}`)
  return lines
}

function render(r: StatusReport, why: string): string {
  const s = r.snapshot
  const lines = [
    r.source === 'daemon'
      ? `Source: the running daemon (${r.from})`
      : `No daemon runs (${why}). From the state ${r.source === 'database' ? 'database' : 'file'} ${r.from}; live figures are unknown`,
  ]
  const quota =
    s.quota.total === null ? '?' : `${formatWeight(s.quota.total)}${r.source === 'daemon' ? '' : ' (last known)'}`
  lines.push(
    `Quota: ${formatWeight(s.quota.used)} / ${quota} used${s.quota.reserved ? ` (+${formatWeight(s.quota.reserved)} reserved by requests in flight)` : ''}   Jobs: ${s.concurrent.used} / ${s.concurrent.limit}   Provisioning: ${s.provisioning.used} / ${s.provisioning.limit}`,
  )
  for (const runner of s.runners) {
    const i = runner.intake
    const intake = 'reason' in i ? `${i.state}: ${i.reason}` : i.state
    lines.push(
      '',
      `Runner ${runner.name ? `'${runner.name}'` : runner.runner} (${runner.executor}, ${runner.url}): intake ${intake}`,
    )
    const jobs = s.jobs.filter((j) => j.runner === runner.runner)
    if (jobs.length === 0) {
      lines.push('  no job')
      continue
    }
    const holders = r.cluster?.holders
    lines.push(
      `  ${'JOB'.padEnd(10)}${'PROJECT'.padEnd(16)}${'PHASE'.padEnd(16)}${'FLAVOR'.padEnd(8)}${'WEIGHT'.padStart(7)}  ${'AGE'.padEnd(8)}${'RESOURCE'.padEnd(holders ? 24 : 0)}${holders ? 'DAEMON' : ''}`.trimEnd(),
    )
    for (const j of jobs) {
      const holder = holders ? (holders[`${j.runner}/${j.jobId}`] ?? 'none yet') : undefined
      lines.push(
        `  ${String(j.jobId).padEnd(10)}${(j.projectName ?? String(j.projectId ?? '-')).slice(0, 15).padEnd(16)}${j.phase.padEnd(16)}${(j.flavor ?? '-').padEnd(8)}${formatWeight(j.weight).padStart(7)}  ${age(s.at - j.acquiredAt).padEnd(8)}${(j.resourceId ?? '-').padEnd(holders ? 24 : 0)}${holder ?? ''}`.trimEnd(),
      )
    }
  }
  lines.push(
    '',
    `Pending deletions: ${s.pendingDeletions}   Orphans marked: ${s.orphansMarked}   Kept resources: ${s.keptResources}`,
  )
  if (s.unmarkedResources?.length) {
    lines.push(
      'Resources named like ours without an ownership marker (never deleted automatically; delete them by hand once unused):',
    )
    for (const u of s.unmarkedResources.slice(0, 20)) lines.push(`  ${u.name} (${u.resourceId}, runner ${u.runner})`)
  }
  if (r.cluster) lines.push('', ...renderCluster(r.cluster, s.at))
  if (s.recentFailures.length) {
    lines.push('Recent failures:')
    for (const f of s.recentFailures.slice(-10)) lines.push(`  job ${f.jobId} (${f.runner}): ${f.reason}`)
  }
  return lines.join('\n')
}

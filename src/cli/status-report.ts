import {existsSync} from 'node:fs'

import {controlSocketPath} from '../adapters/observability/control-socket-path.js'
import type {Config} from '../core/config/config-types.js'
import type {DispatcherSnapshot} from '../core/events.js'
import {formatWeight} from '../core/quota/flavor-weight.js'
import type {Redactor} from '../core/redact.js'
import type {StatusReport} from '../core/status-schema.js'

/** `status` without a running daemon, as `systemctl status` says "inactive". */
export const EXIT_NOT_RUNNING = 3

/**
 * What `status` does once the config is loaded, with no oclif in it, so the command and the
 * fast path of bin/run.cjs (status-fast-path.ts) print the same thing: ask the daemon on its
 * control socket, else on listen_address; else read the state (database or file).
 * Returns the exit code (0: a daemon answered; 3: none runs).
 */
export async function runStatus(
  config: Config,
  redactor: Redactor,
  json: boolean,
  out: (line: string) => void,
): Promise<{code: number; report: StatusReport}> {
  const {report, why} = await gatherStatus(config)
  const safe = redactor.redactValue(report)
  out(json ? JSON.stringify(safe, null, 2) : renderStatus(safe, why))
  return {code: safe.source === 'daemon' ? 0 : EXIT_NOT_RUNNING, report: safe}
}

// Each source loads its own modules when it is asked: a cold `status` pays for one of them.
async function gatherStatus(config: Config): Promise<{report: StatusReport; why: string}> {
  const snapshotSchema = async () => (await import('../core/status-schema.js')).snapshotSchema
  const socket = controlSocketPath(config.stateFile)
  let why = `no daemon answers on ${socket}${config.listenAddress ? ' nor on listen_address' : ''}`
  // No socket file, no daemon there: the HTTP client (node:http) is loaded only when there is one to ask.
  if (existsSync(socket))
    try {
      const {getFromSocket} = await import('../adapters/observability/control-socket.js')
      const res = await getFromSocket(socket, '/status')
      const parsed = (await snapshotSchema()).safeParse(JSON.parse(res.body))
      if (res.status === 200 && parsed.success)
        return {report: {source: 'daemon', from: socket, snapshot: parsed.data as DispatcherSnapshot}, why}
    } catch {
      // no daemon there: try listen_address, then the state file
    }
  if (config.listenAddress) {
    const {parseListenAddress} = await import('../adapters/observability/status-server.js')
    const {host, port} = parseListenAddress(config.listenAddress)
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/status`
    try {
      const res = await fetch(url, {signal: AbortSignal.timeout(1500)})
      const parsed = (await snapshotSchema()).safeParse(await res.json())
      if (res.ok && parsed.success)
        return {report: {source: 'daemon', from: url, snapshot: parsed.data as DispatcherSnapshot}, why}
      why = `${url} answered ${res.status} without a valid snapshot`
    } catch {
      // nothing there either
    }
  }
  const {snapshotFromState} = await import('../core/dispatcher/state-snapshot.js')
  if (config.stateUrl) {
    // Loaded only here: the PostgreSQL client costs a quarter of a second at start.
    const {PgStateStore} = await import('../adapters/state/pg/pg-state-store.js')
    const store = await PgStateStore.inspect({url: config.stateUrl, schema: config.stateSchema, now: Date.now})
    return {
      report: {
        source: 'database',
        from: store.path,
        snapshot: snapshotFromState(config, store, Date.now(), 'no daemon runs'),
        ...(store.clusterView ? {cluster: store.clusterView} : {}),
      },
      why,
    }
  }
  const [{StateStore}, {FsStateFile}, {readLastQuota}] = await Promise.all([
    import('../core/state/state-store.js'),
    import('../adapters/state/fs-state-file.js'),
    import('../adapters/state/last-quota-file.js'),
  ])
  const store = await StateStore.inspect(new FsStateFile(config.stateFile), {now: Date.now})
  const snapshot = snapshotFromState(config, store, Date.now(), 'no daemon runs')
  const last = await readLastQuota(config.stateFile)
  if (last)
    snapshot.quota = {
      ...snapshot.quota,
      total: last.total,
      explanation: `${last.explanation} (last known, ${new Date(last.at).toISOString()})`,
    }
  return {report: {source: 'state-file', from: config.stateFile, snapshot}, why}
}

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

/** The human report: one block per runner, its jobs as a table, then deletions and failures. */
export function renderStatus(r: StatusReport, why: string): string {
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
    // From the database of a cluster: which daemon holds each job.
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

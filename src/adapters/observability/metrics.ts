import {collectDefaultMetrics, Counter, Gauge, Histogram, Registry} from 'prom-client'

import type {EventBus} from '../../core/events.js'
import type {Dispatcher} from '../../core/dispatcher/dispatcher.js'

/** Low-cardinality kind of a launch failure. */
export function failureKind(reason: string): string {
  if (/flavor/i.test(reason)) return 'flavor'
  if (/organisation|namespace=/.test(reason)) return 'organisation'
  if (/no log|not active/.test(reason)) return 'launch_timeout'
  if (/could not create/.test(reason)) return 'provision'
  if (/git push/.test(reason)) return 'git_push'
  if (/repository still/.test(reason)) return 'repository_not_ready'
  return 'launch'
}

/** Period (ms) of the event-loop lag sampling behind `hpr_nodejs_eventloop_lag_*`. */
export const EVENT_LOOP_SAMPLE_MS = 100

/**
 * Prometheus metrics (prom-client), built from the dispatcher's events and snapshots only.
 * No job id, token or resource id in any label.
 */
export class Metrics {
  readonly registry = new Registry()
  readonly coordinatorRequests: Counter<'endpoint' | 'status'>
  readonly paasRequests: Counter<'endpoint' | 'status'>
  /** Rate-limit episodes (429 / 503 with Retry-After), per remote: `gitlab` or `paas`. */
  readonly rateLimitEpisodes: Counter<'remote'>

  constructor(dispatcher: Dispatcher, events: EventBus) {
    const r = this.registry
    // The event-loop lag histogram samples with a timer: prom-client's default (10 ms) wakes an
    // idle daemon 100 times a second, three quarters of its idle CPU (BENCHMARKS.md). 100 ms
    // still catches every stall longer than that; shorter ones are caught by chance.
    collectDefaultMetrics({register: r, prefix: 'hpr_', eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS})
    new Gauge({
      name: 'hpr_jobs',
      help: 'Tracked jobs by phase and runner',
      labelNames: ['phase', 'runner'],
      registers: [r],
      collect() {
        this.reset()
        for (const j of dispatcher.snapshot().jobs) this.inc({phase: j.phase, runner: j.runnerName ?? j.runner})
      },
    })
    new Gauge({
      name: 'hpr_intake_stopped',
      help: 'Runners whose intake stopped for good until the config changes, by reason code (flavor_config, quota_too_small)',
      labelNames: ['runner', 'code'],
      registers: [r],
      collect() {
        this.reset()
        for (const rn of dispatcher.snapshot().runners)
          if (rn.intake.state === 'stopped' && rn.intake.code)
            this.set({runner: rn.name ?? rn.runner, code: rn.intake.code}, 1)
      },
    })
    const snap = () => dispatcher.snapshot()
    const gauge = (name: string, help: string, f: () => number | null) =>
      new Gauge({
        name,
        help,
        registers: [r],
        collect() {
          const v = f()
          if (v !== null) this.set(v)
        },
      })
    gauge('hpr_weight_used', 'Weight of tracked jobs (flavor weight = RAM GiB ^ 1.25)', () => snap().quota.used)
    gauge('hpr_weight_reserved', 'Weight reserved by job requests in flight', () => snap().quota.reserved)
    gauge('hpr_weight_quota', 'Weighted quota', () => snap().quota.total)
    gauge('hpr_concurrent_jobs', 'Jobs counted against concurrent', () => snap().concurrent.used)
    gauge('hpr_concurrent_limit', 'concurrent', () => snap().concurrent.limit)
    gauge('hpr_provisioning_jobs', 'Jobs acquired but not yet confirmed started', () => snap().provisioning.used)
    gauge('hpr_provisioning_limit', 'paas_max_concurrent_provisioning', () => snap().provisioning.limit)
    gauge(
      'hpr_pending_deletions',
      'Resources whose deletion failed and is being retried',
      () => snap().pendingDeletions,
    )
    gauge('hpr_orphans_marked', 'Unknown resources waiting for their grace period', () => snap().orphansMarked)
    gauge(
      'hpr_unmarked_resources',
      'Resources named like ours without an ownership marker (reported, never deleted)',
      () => snap().unmarkedResources?.length ?? 0,
    )
    const failures = new Counter({
      name: 'hpr_launch_failures_total',
      help: 'Launch failures by kind',
      labelNames: ['kind'],
      registers: [r],
    })
    const orphans = new Counter({
      name: 'hpr_orphans_total',
      help: 'Orphan resources found and deleted',
      labelNames: ['action'],
      registers: [r],
    })
    const pauses = new Counter({
      name: 'hpr_intake_pauses_total',
      help: 'Intake pauses by reason',
      labelNames: ['reason'],
      registers: [r],
    })
    const deleteRetries = new Counter({
      name: 'hpr_delete_retries_total',
      help: 'Failed resource deletions (retried)',
      registers: [r],
    })
    const finished = new Counter({
      name: 'hpr_jobs_finished_total',
      help: 'Jobs seen finished in GitLab',
      registers: [r],
    })
    const pickup = new Histogram({
      name: 'hpr_job_pickup_seconds',
      help: 'From job acquired to provisioning started',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [r],
    })
    const toRunning = new Histogram({
      name: 'hpr_provision_to_running_seconds',
      help: 'From provisioning started to job running',
      buckets: [1, 5, 10, 30, 60, 120, 300, 600],
      registers: [r],
    })
    const decommission = new Histogram({
      name: 'hpr_decommission_seconds',
      help: 'Resource deletion time',
      buckets: [0.1, 0.5, 1, 5, 10, 30, 60],
      registers: [r],
    })
    this.coordinatorRequests = new Counter({
      name: 'hpr_coordinator_requests_total',
      help: 'GitLab API requests by endpoint and status',
      labelNames: ['endpoint', 'status'],
      registers: [r],
    })
    this.paasRequests = new Counter({
      name: 'hpr_paas_api_requests_total',
      help: 'PAAS (Clever Cloud) API requests by endpoint and status',
      labelNames: ['endpoint', 'status'],
      registers: [r],
    })
    this.rateLimitEpisodes = new Counter({
      name: 'hpr_rate_limit_episodes_total',
      help: 'Times a remote asked us to slow down (every call of that kind then waited)',
      labelNames: ['remote'],
      registers: [r],
    })
    const acquiredAt = new Map<string, number>()
    const provisionAt = new Map<string, number>()
    events.on((e) => {
      switch (e.type) {
        case 'launch-failed':
          failures.inc({kind: failureKind(e.reason)})
          break
        case 'orphan':
          orphans.inc({action: e.action})
          break
        case 'intake':
          if (e.intake.state === 'paused') pauses.inc({reason: e.intake.blocker.kind})
          break
        case 'delete-retry':
          deleteRetries.inc()
          break
        case 'job-finished':
          finished.inc()
          break
        case 'decommissioned':
          decommission.observe(e.durationMs / 1000)
          break
        case 'job-phase': {
          const k = `${e.runner}/${e.jobId}`
          if (e.phase === 'acquired') acquiredAt.set(k, e.at)
          if (e.phase === 'provisioning' && acquiredAt.has(k)) {
            pickup.observe((e.at - acquiredAt.get(k)!) / 1000)
            acquiredAt.delete(k)
            provisionAt.set(k, e.at)
          }
          if (e.phase === 'running' && provisionAt.has(k)) {
            toRunning.observe((e.at - provisionAt.get(k)!) / 1000)
            provisionAt.delete(k)
          }
          if (e.phase === 'gone') {
            acquiredAt.delete(k)
            provisionAt.delete(k)
          }
          break
        }
        default:
      }
    })
  }
}

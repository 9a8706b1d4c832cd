import type {CleverSimulator, SimApp} from '../../src/sim/clever/clever-simulator.js'
import type {GitLabSimulator} from '../../src/sim/gitlab/gitlab-simulator.js'

const FINAL = new Set(['success', 'failed', 'canceled'])

/**
 * The resource-lifetime invariant, read from both simulators' timelines after the fact: every
 * application deleted in Clever Cloud belongs to a job that GitLab already had as final (success,
 * failed or canceled) at the moment of the delete. A delete while the job still runs is a
 * violation, whatever the jobs' outcome looks like at the end.
 */
export class LifetimeWatch {
  /** Application id → name (`hpd-job-<runner>-<job id>`), learned as they are created. */
  private readonly names = new Map<string, string>()

  constructor(
    private readonly gitlab: GitLabSimulator,
    private readonly clever: CleverSimulator,
  ) {
    clever.on('app', (app: SimApp) => this.names.set(app.id, app.name))
  }

  /** Deletes of applications whose job GitLab knows. */
  get deletes(): number {
    return this.clever.timeline.filter((e) => e.op === 'delete' && this.jobOf(e.appId) !== undefined).length
  }

  violations(): string[] {
    const out: string[] = []
    for (const e of this.clever.timeline) {
      if (e.op !== 'delete') continue
      const jobId = this.jobOf(e.appId)
      const job = jobId === undefined ? undefined : this.gitlab.job(jobId)
      if (!job) continue
      const final = job.history.find((h) => FINAL.has(h.status))
      if (!final || final.at > e.at) {
        out.push(
          `${this.names.get(e.appId)} deleted at ${new Date(e.at).toISOString()} while job ${job.id} was ${final ? `final only at ${new Date(final.at).toISOString()}` : job.status}`,
        )
      }
    }
    return out
  }

  private jobOf(appId: string): number | undefined {
    const m = /-(\d+)$/.exec(this.names.get(appId) ?? '')
    return m ? Number(m[1]) : undefined
  }
}

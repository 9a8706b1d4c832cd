import {recordKey, type JobPhase} from '../state/job-record.js'
import {oneLine, type DispatcherContext} from './dispatcher-context.js'
import type {JobPipeline} from './job-pipeline.js'

/** Lines of an executor kept per job for its log, the last ones. */
const MAX_NOTES = 20

/** Phases in which the job is already ending: a report of its resource changes nothing. */
const ENDING: ReadonlySet<JobPhase> = new Set<JobPhase>(['reporting', 'finished', 'decommissioning'])

/**
 * What an executor tells the host about a job (its `deps.jobLog` and `deps.resourceFailed`): a
 * line for the job log, and the failure of the job's resource. Neither hands the job token out.
 */
export class ExecutorReports {
  constructor(
    private readonly ctx: DispatcherContext,
    private readonly pipeline: JobPipeline,
  ) {}

  /** A line for the job log: redacted, kept (the last MAX_NOTES) until the job fails, logged now. */
  jobLog(runner: string, jobId: number, line: string): void {
    const key = recordKey(runner, jobId)
    if (!this.ctx.current(key)) return
    const text = oneLine(this.ctx.redact(line))
    this.ctx.log.info(`executor: ${text}`, {runner, job: jobId})
    const ctl = this.ctx.control(key)
    ctl.notes = [...(ctl.notes ?? []), text].slice(-MAX_NOTES)
  }

  /**
   * The resource of a job failed: the job is failed with the reason and its resource deleted. A
   * step in flight (provision, launch, launch watch) is aborted; the pipeline then reports it.
   */
  resourceFailed(runner: string, jobId: number, reason: string): void {
    const key = recordKey(runner, jobId)
    const rec = this.ctx.current(key)
    if (!rec || ENDING.has(rec.phase) || rec.phase === 'acquired') return
    const ctl = this.ctx.control(key)
    if (ctl.lost !== undefined) return
    ctl.lost = oneLine(this.ctx.redact(`the job's resource failed: ${reason}`))
    this.ctx.log.error('the executor reports that the resource of the job failed', {
      runner,
      job: jobId,
      phase: rec.phase,
      resource: rec.resourceId,
      reason: ctl.lost,
    })
    ctl.cancel.abort(new Error(ctl.lost))
    this.pipeline.drive(rec)
  }
}

/** Whether the pipeline should fail this job now because its resource failed (and with what). */
export function lostReason(ctx: DispatcherContext, phase: JobPhase, key: string): string | undefined {
  const lost = ctx.controls.get(key)?.lost
  return lost !== undefined && !ENDING.has(phase) ? lost : undefined
}

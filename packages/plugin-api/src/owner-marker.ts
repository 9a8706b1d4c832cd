import {PaasRunnerError} from './errors.js'

/**
 * Proof of ownership of a PAAS resource. A resource is ours only when its marker names both our
 * daemon (the system id kept in the state file) and the runner (its short token): a name that
 * merely looks like ours proves nothing, since another daemon, or a person, may use the same.
 */
export interface OwnerMarker {
  /** The daemon's system id, created once and kept in the state file. */
  systemId: string
  /** The runner's short token (its unique name). */
  runner: string
}

/** One line, for fields that hold free text (a Clever Cloud application's description). */
export function formatOwnerMarker(m: OwnerMarker): string {
  return `heptapod-paas-runner system=${m.systemId} runner=${m.runner}`
}

const MARKER_LINE = /^heptapod-paas-runner system=([A-Za-z0-9_.-]{1,64}) runner=([A-Za-z0-9_.-]{1,64})$/

/** The marker in a free-text field, or undefined when there is none (never throws: the text is foreign). */
export function parseOwnerMarker(text: unknown): OwnerMarker | undefined {
  if (typeof text !== 'string') return undefined
  const m = MARKER_LINE.exec(text.trim())
  return m ? {systemId: m[1]!, runner: m[2]!} : undefined
}

/** Labels for systems that keep key/value labels (Docker). */
export const OWNER_LABELS = {
  systemId: 'org.heptapod.paas-runner.system-id',
  runner: 'org.heptapod.paas-runner.runner',
} as const

export function ownerLabels(m: OwnerMarker): Record<string, string> {
  return {[OWNER_LABELS.systemId]: m.systemId, [OWNER_LABELS.runner]: m.runner}
}

/** The marker read back from labels, or undefined when either label is missing. */
export function ownerFromLabels(labels: unknown): OwnerMarker | undefined {
  if (!labels || typeof labels !== 'object') return undefined
  const l = labels as Record<string, unknown>
  const systemId = l[OWNER_LABELS.systemId]
  const runner = l[OWNER_LABELS.runner]
  return typeof systemId === 'string' && typeof runner === 'string' ? {systemId, runner} : undefined
}

export function sameOwner(a: OwnerMarker | undefined, b: OwnerMarker): boolean {
  return a !== undefined && a.systemId === b.systemId && a.runner === b.runner
}

/** The owner an executor must mark its resources with; creating or sweeping without one is a bug of the host. */
export function requireOwner(owner: OwnerMarker | undefined): OwnerMarker {
  if (!owner)
    throw new PaasRunnerError(
      'no_owner',
      'this command cannot create or list resources: it has no owner identity (system id)',
    )
  return owner
}

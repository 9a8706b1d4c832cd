import type {CleverAppWire} from './clever-client.js'

/**
 * Which applications named like this runner's jobs exist in an organisation, without listing
 * every application of the organisation at each provision (a listing is O(apps), so a burst of
 * N jobs cost O(N²) on both sides).
 *
 * Why it is enough: an app of ours that this process did not create was created before it
 * started (by a process that crashed or stopped): the first listing of the organisation, made
 * after start, holds it. Every create of this process is recorded when it answers; a create
 * whose outcome is unknown (an error, an abort: it may have happened on Clever's side) marks the
 * name `uncertain`, and the next provision of that name lists the organisation again.
 * An app made after the first listing by someone else under one of our names is not seen; it
 * is still never touched (our create makes another app; the orphan sweep never deletes an app
 * without our marker).
 */
export class KnownApps {
  private listing: Promise<void> | undefined
  private listed = false
  /** Apps named with our prefix, by name: from the first listing, then from our own creates. */
  private readonly byName = new Map<string, CleverAppWire>()
  /** App id → name, so that a delete forgets its app without a scan. */
  private readonly nameOf = new Map<string, string>()
  /** Creates sent, not answered yet. */
  private readonly pending = new Set<string>()
  /** Creates that failed without saying whether the app was made: look again before trusting the map. */
  private readonly uncertain = new Set<string>()

  constructor(
    private readonly prefix: string,
    private readonly list: () => Promise<CleverAppWire[]>,
  ) {}

  /** The app of that name, if one exists (ours or not: the caller checks the marker). */
  async find(name: string, signal?: AbortSignal): Promise<CleverAppWire | undefined> {
    if (!this.listed || this.uncertain.has(name)) await untilAborted(this.refresh(), signal)
    return this.byName.get(name)
  }

  /** A create of `name` is about to be sent. */
  creating(name: string): void {
    this.pending.add(name)
  }

  /** The create answered with the app, or a listing found it: it exists. */
  created(app: CleverAppWire): void {
    this.pending.delete(app.name)
    this.uncertain.delete(app.name)
    this.remember(app)
  }

  /** The create failed: the app may have been made all the same (a lost answer). */
  createFailed(name: string): void {
    this.pending.delete(name)
    this.uncertain.add(name)
  }

  /** The app is deleted (or found absent): forget it. */
  deleted(appId: string): void {
    const name = this.nameOf.get(appId)
    if (name === undefined) return
    this.nameOf.delete(appId)
    if (this.byName.get(name)?.id === appId) this.byName.delete(name)
  }

  private remember(app: CleverAppWire): void {
    const old = this.byName.get(app.name)
    if (old && old.id !== app.id) this.nameOf.delete(old.id)
    this.byName.set(app.name, app)
    this.nameOf.set(app.id, app.name)
  }

  private forget(name: string): void {
    const old = this.byName.get(name)
    if (old) this.nameOf.delete(old.id)
    this.byName.delete(name)
  }

  /**
   * One listing at a time, shared by concurrent provisions; it runs without any caller's signal
   * (one job canceled must not fail the others' lookups) and is bounded by the HTTP deadlines.
   */
  private refresh(): Promise<void> {
    this.listing ??= (async () => {
      // Only what was uncertain before the listing is settled by it.
      const settling = [...this.uncertain]
      try {
        const found = new Set<string>()
        for (const app of await this.list()) {
          if (!app.name.startsWith(this.prefix)) continue
          found.add(app.name)
          if (!this.pending.has(app.name)) this.remember(app)
        }
        for (const name of settling) {
          if (!found.has(name)) this.forget(name)
          this.uncertain.delete(name)
        }
        this.listed = true
      } finally {
        this.listing = undefined
      }
    })()
    return this.listing
  }
}

/** Waits for `p`, or rejects with the signal's reason as soon as it aborts (`p` goes on). */
function untilAborted<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p
  signal.throwIfAborted()
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason)
    signal.addEventListener('abort', onAbort, {once: true})
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}

import type {StateFilePort} from '../../src/core/state/state-file-port.js'

/**
 * State file in memory that models durability: a write reaches `content` at once (the page
 * cache) but only `durable` (what survives kill -9 or a power cut) after its sync, one turn of
 * the event loop later. A crash keeps `durable` only, so a commit that resolved before its sync
 * loses its record in the crash tests.
 */
export class MemoryStateFile implements StateFilePort {
  readonly path = '/virtual/state.jsonl'
  /** Everything written so far, synced or not. */
  content: string | undefined
  /** What was written and synced: what a crash leaves. */
  durable: string | undefined
  /** Appends and replacements written, and syncs completed. */
  appends = 0
  replaces = 0
  syncs = 0
  /** The next N writes (append or replace) fail with EIO, before writing anything. */
  failNextWrites = 0
  /** While true, syncs wait for `releaseSyncs()`: a test can look at what resolved before durability. */
  holdSyncs = false
  readonly backups = new Map<string, string>()
  private held: Array<() => void> = []

  constructor(initial?: string) {
    this.content = initial
    this.durable = initial
  }

  async read(): Promise<string | undefined> {
    return this.content
  }

  async append(text: string): Promise<void> {
    this.failIfAsked()
    this.content = (this.content ?? '') + text
    this.appends++
    await this.sync(this.content)
  }

  async replace(parts: readonly string[]): Promise<void> {
    this.failIfAsked()
    const text = parts.join('')
    this.content = text
    this.replaces++
    await this.sync(text)
  }

  async backup(suffix: string): Promise<string> {
    this.backups.set(this.path + suffix, this.content ?? '')
    return this.path + suffix
  }

  async close(): Promise<void> {}

  /** Lets the held syncs complete. */
  releaseSyncs(): void {
    this.holdSyncs = false
    for (const release of this.held.splice(0)) release()
  }

  /** Number of syncs waiting for `releaseSyncs()`. */
  get heldSyncs(): number {
    return this.held.length
  }

  private failIfAsked(): void {
    if (this.failNextWrites > 0) {
      this.failNextWrites--
      throw new Error('EIO: simulated write failure')
    }
  }

  /** An fsync takes time: the data is durable one event-loop turn later, never in the same tick. */
  private async sync(upTo: string): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve))
    if (this.holdSyncs) await new Promise<void>((resolve) => this.held.push(resolve))
    this.durable = upTo
    this.syncs++
  }
}

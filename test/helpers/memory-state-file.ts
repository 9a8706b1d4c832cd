import type {StateFilePort} from '../../src/core/state/state-file-port.js'

/** State file in memory. `crash()` keeps only what was durably written, optionally tearing the last line. */
export class MemoryStateFile implements StateFilePort {
  readonly path = '/virtual/state.jsonl'
  content: string | undefined
  appends = 0
  failNextWrites = 0

  constructor(initial?: string) {
    this.content = initial
  }

  async read(): Promise<string | undefined> {
    return this.content
  }

  async append(text: string): Promise<void> {
    if (this.failNextWrites > 0) {
      this.failNextWrites--
      throw new Error('EIO: simulated write failure')
    }
    this.content = (this.content ?? '') + text
    this.appends++
  }

  async replace(text: string): Promise<void> {
    this.content = text
  }

  async backup(suffix: string): Promise<string> {
    this.backups.set(this.path + suffix, this.content ?? '')
    return this.path + suffix
  }

  readonly backups = new Map<string, string>()

  async close(): Promise<void> {}
}

/**
 * Durable storage of the state file. The fs adapter fsyncs; tests use an in-memory fake
 * that can also simulate a crash (a torn last line).
 */
export interface StateFilePort {
  /** Path, for messages. */
  readonly path: string
  /** Whole content, or undefined when the file does not exist. */
  read(): Promise<string | undefined>
  /** Appends and makes it durable (fsync) before resolving. Creates the file with mode 0600. */
  append(text: string): Promise<void>
  /**
   * Replaces the whole content with `parts`, in order, atomically and durably (temp file, fsync,
   * rename). Mode 0600. Parts, not one string: a file of thousands of jobs is written piece by
   * piece, with the event loop free in between.
   */
  replace(parts: readonly string[]): Promise<void>
  /** Copies the current file aside (`<path><suffix>`), returns the copy's path. */
  backup(suffix: string): Promise<string>
  close(): Promise<void>
}

/**
 * A Map that counts its changes (`revision`), so that a reader can keep something it derived from
 * the entries (a count, an index) until they change, instead of going over them again each time:
 * the progress loop counts the polled jobs of each GitLab instance only after a change, not at
 * every check (5,000 jobs checked every 30 s).
 */
export class RevisionMap<K, V> extends Map<K, V> {
  revision = 0

  override set(key: K, value: V): this {
    this.revision++
    return super.set(key, value)
  }

  override delete(key: K): boolean {
    this.revision++
    return super.delete(key)
  }

  override clear(): void {
    this.revision++
    super.clear()
  }
}

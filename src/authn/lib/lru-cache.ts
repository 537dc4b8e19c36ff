/**
 * A small LRU map with per-entry expiry, for caching authentication results.
 * Entries past their expiry are never returned; the least recently used entry
 * is evicted when the map is full. Neither is an entry stored "later" than now:
 * the wall clock stepped back (NTP) since, and its expiry no longer says how
 * long it has been kept (a step of an hour would keep it an hour longer).
 */
export class ExpiringLruCache<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number; storedAt: number }>();

  constructor(private readonly maxEntries: number) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string, now: number): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.entries.delete(key);
    if (entry.expiresAt <= now || entry.storedAt > now) return undefined;
    this.entries.set(key, entry); // most recently used goes last
    return entry.value;
  }

  set(key: string, value: V, expiresAt: number, now: number): void {
    if (this.maxEntries <= 0) return;
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt, storedAt: now });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
  }
}

/**
 * A de-duplicating work queue: each key is handled by one call at a time, a
 * key added while queued is handled once, and a failed key is retried with
 * per-key exponential back-off (reset by a success). Like client-go's
 * rate-limited workqueue, reduced to what a distributor needs.
 */
export interface WorkQueueOptions {
  readonly retryMinMs: number;
  readonly retryMaxMs: number;
  /** Told about every failure before its retry is scheduled. */
  readonly onError: (key: string, err: unknown) => void;
}

export class WorkQueue {
  readonly #handle: (key: string) => Promise<void>;
  readonly #opts: WorkQueueOptions;
  readonly #queued = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  #running = false;
  #stopped = false;
  #idle: Array<() => void> = [];

  constructor(handle: (key: string) => Promise<void>, options: WorkQueueOptions) {
    this.#handle = handle;
    this.#opts = options;
  }

  add(key: string): void {
    if (this.#stopped) return;
    this.#queued.add(key);
    void this.#drain();
  }

  /** Resolves when nothing is queued or running (retries scheduled for later do not count). */
  idle(): Promise<void> {
    if (!this.#running && this.#queued.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  stop(): void {
    this.#stopped = true;
    this.#queued.clear();
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
  }

  async #drain(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      for (;;) {
        if (this.#stopped) break;
        const next = this.#queued.values().next();
        if (next.done) break;
        const key = next.value;
        this.#queued.delete(key);
        try {
          await this.#handle(key);
          this.#failures.delete(key);
        } catch (err) {
          this.#retry(key, err);
        }
      }
    } finally {
      this.#running = false;
      const waiters = this.#idle;
      this.#idle = [];
      for (const w of waiters) w();
    }
  }

  #retry(key: string, err: unknown): void {
    this.#opts.onError(key, err);
    if (this.#stopped) return;
    const failures = (this.#failures.get(key) ?? 0) + 1;
    this.#failures.set(key, failures);
    const delay = Math.min(this.#opts.retryMinMs * 2 ** (failures - 1), this.#opts.retryMaxMs);
    clearTimeout(this.#timers.get(key));
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      this.add(key);
    }, delay);
    timer.unref();
    this.#timers.set(key, timer);
  }
}

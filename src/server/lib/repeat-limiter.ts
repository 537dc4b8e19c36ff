/**
 * Keeps the log readable through an outage: of identical messages (same key)
 * the first is logged, the rest within the window are only counted, and one
 * summary line per key says how many there were when the window ends. A disk
 * that filled up made meshsign log 1,537 identical warnings in 40 s.
 */
export interface RepeatLimiterOptions {
  /** How long repeats of a key are held back after it was logged. Default 60 s. */
  readonly windowMs?: number;
  /** Told, once the window of `key` ends, how many repeats were held back and the last one's context. */
  readonly onSummary: (key: string, repeats: number, last: unknown) => void;
  readonly now?: () => number;
}

export const DEFAULT_REPEAT_WINDOW_MS = 60_000;

export class RepeatLimiter {
  readonly #windowMs: number;
  readonly #onSummary: RepeatLimiterOptions["onSummary"];
  readonly #now: () => number;
  readonly #open = new Map<string, { until: number; repeats: number; last: unknown }>();
  #timer: NodeJS.Timeout | undefined;

  constructor(options: RepeatLimiterOptions) {
    this.#windowMs = options.windowMs ?? DEFAULT_REPEAT_WINDOW_MS;
    this.#onSummary = options.onSummary;
    this.#now = options.now ?? Date.now;
  }

  /** True when this occurrence of `key` should be logged now; false when it is counted instead. */
  admit(key: string, context?: unknown): boolean {
    const now = this.#now();
    const open = this.#open.get(key);
    if (open !== undefined && now < open.until) {
      open.repeats++;
      open.last = context;
      return false;
    }
    if (open !== undefined) this.#close(key, open);
    this.#open.set(key, { until: now + this.#windowMs, repeats: 0, last: undefined });
    this.#arm();
    return true;
  }

  /** Reports what is held back now (shutdown). */
  flush(): void {
    for (const [key, open] of this.#open) this.#close(key, open);
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #close(key: string, open: { repeats: number; last: unknown }): void {
    this.#open.delete(key);
    if (open.repeats > 0) this.#onSummary(key, open.repeats, open.last);
  }

  #arm(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const now = this.#now();
      for (const [key, open] of this.#open) if (now >= open.until) this.#close(key, open);
      if (this.#open.size > 0) this.#arm();
    }, this.#windowMs);
    this.#timer.unref();
  }
}

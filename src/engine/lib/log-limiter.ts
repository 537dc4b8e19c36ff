/**
 * Rate limit for the engine's failure log lines: one line per key (a
 * Certificate and a reason) per interval, the repeats in between counted and
 * reported on the next line, and a global token bucket so that 10,000
 * Certificates failing at once cannot flood the log either. Memory is
 * bounded (oldest keys forgotten first).
 */
import type { Clock } from "../clock.js";

export interface LogLimiterOptions {
  readonly clock: Clock;
  /** Shortest time between two lines of one key. Default 60 s. */
  readonly intervalMs?: number;
  /** Lines allowed at once across all keys. Default 50. */
  readonly burst?: number;
  /** Lines per second across all keys, after the burst. Default 5. */
  readonly perSecond?: number;
  /** Keys remembered. Default 10,000. */
  readonly maxKeys?: number;
}

interface KeyState {
  lastMs: number;
  suppressed: number;
}

export class LogLimiter {
  readonly #o: Required<LogLimiterOptions>;
  readonly #keys = new Map<string, KeyState>();
  #tokens: number;
  #refilledMs: number;

  constructor(options: LogLimiterOptions) {
    this.#o = { intervalMs: 60_000, burst: 50, perSecond: 5, maxKeys: 10_000, ...options };
    this.#tokens = this.#o.burst;
    this.#refilledMs = this.#o.clock.now();
  }

  /**
   * Whether a line for `key` may be written now; when it may, how many
   * earlier occurrences of the key were suppressed since its last line.
   */
  allow(key: string): { readonly suppressed: number } | undefined {
    const now = this.#o.clock.now();
    const state = this.#keys.get(key);
    if (state !== undefined && now - state.lastMs < this.#o.intervalMs) {
      state.suppressed++;
      return undefined;
    }
    this.#tokens = Math.min(this.#o.burst, this.#tokens + ((now - this.#refilledMs) / 1000) * this.#o.perSecond);
    this.#refilledMs = now;
    if (this.#tokens < 1) {
      if (state !== undefined) state.suppressed++;
      else this.#remember(key, { lastMs: Number.NEGATIVE_INFINITY, suppressed: 1 });
      return undefined;
    }
    this.#tokens--;
    const suppressed = state?.suppressed ?? 0;
    this.#remember(key, { lastMs: now, suppressed: 0 });
    return { suppressed };
  }

  #remember(key: string, state: KeyState): void {
    this.#keys.delete(key);
    this.#keys.set(key, state);
    if (this.#keys.size > this.#o.maxKeys) {
      const oldest = this.#keys.keys().next().value;
      if (oldest !== undefined) this.#keys.delete(oldest);
    }
  }
}

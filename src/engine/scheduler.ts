/**
 * The engine's work queue: one deadline per key in a time-ordered heap (no
 * periodic scans), a single armed timer for the earliest deadline, bounded
 * concurrency, and per-key serialization (a key is never handled twice at
 * once; a request that arrives meanwhile re-runs it once afterwards).
 * Handler errors are retried per key with exponential back-off (1 s -> 30 s,
 * cert-manager's controller rate limiter).
 */
import { type BackoffOptions, exponentialDelayMs } from "./backoff.js";
import type { Clock, Timer } from "./clock.js";

/** Handles one key; returns the next time it wants to run, or undefined for "only on events". */
export type Handler = (key: string) => Promise<number | undefined>;

export interface SchedulerOptions {
  readonly clock: Clock;
  readonly handler: Handler;
  /** Keys handled at once. */
  readonly concurrency?: number;
  /** Back-off for handler errors. */
  readonly errorBackoff?: BackoffOptions;
  /** Called with each handler error (for the log). */
  readonly onError?: (key: string, err: unknown) => void;
}

/**
 * Certificates reconciled at once. A reconcile spends most of its time
 * waiting for durable store writes, so more of them in flight share the
 * store's group commits: on the 2-core machine 32 issue about twice as fast
 * as 8 (key generation has its own, smaller limit in the reconciler).
 */
export const DEFAULT_CONCURRENCY = 32;
export const DEFAULT_ERROR_BACKOFF: BackoffOptions = { minMs: 1_000, maxMs: 30_000 };

interface HeapItem {
  readonly at: number;
  readonly key: string;
}

export class Scheduler {
  readonly #o: Required<Omit<SchedulerOptions, "onError">> & Pick<SchedulerOptions, "onError">;
  readonly #heap: HeapItem[] = [];
  /** key -> its one live deadline (heap items with another `at` are stale). */
  readonly #deadlines = new Map<string, number>();
  readonly #ready = new Set<string>();
  readonly #running = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #failures = new Map<string, number>();
  #timer: Timer | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  #stopped = true;
  #idleWaiters: (() => void)[] = [];

  constructor(options: SchedulerOptions) {
    this.#o = { concurrency: DEFAULT_CONCURRENCY, errorBackoff: DEFAULT_ERROR_BACKOFF, ...options };
  }

  start(): void {
    this.#stopped = false;
    this.#arm();
    this.#pump();
  }

  /** Stops taking work; resolves when the handlers in flight finished. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    await this.idle();
  }

  /** Run `key` as soon as possible. */
  enqueue(key: string): void {
    if (this.#running.has(key)) {
      this.#dirty.add(key);
      return;
    }
    this.#deadlines.delete(key);
    this.#ready.add(key);
    this.#pump();
  }

  /** Run `key` at `atMs` unless it already has an earlier deadline. */
  schedule(key: string, atMs: number): void {
    const current = this.#deadlines.get(key);
    if (current !== undefined && current <= atMs) return;
    this.#setDeadline(key, atMs);
  }

  /** Forgets a key (its object was deleted). */
  forget(key: string): void {
    this.#deadlines.delete(key);
    this.#ready.delete(key);
    this.#dirty.delete(key);
    this.#failures.delete(key);
  }

  /** The pending deadline of a key, if any (describe, tests). */
  deadlineOf(key: string): number | undefined {
    return this.#deadlines.get(key);
  }

  /** True while a key is ready or running. */
  get busy(): boolean {
    return this.#ready.size > 0 || this.#running.size > 0 || this.#dirty.size > 0;
  }

  get size(): number {
    return this.#deadlines.size + this.#ready.size + this.#running.size;
  }

  /** Resolves when nothing is ready or running (deadlines in the future may remain). */
  idle(): Promise<void> {
    if (this.#ready.size === 0 && this.#running.size === 0) return Promise.resolve();
    if (this.#stopped && this.#running.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #setDeadline(key: string, atMs: number): void {
    this.#deadlines.set(key, atMs);
    this.#push({ at: atMs, key });
    if (atMs < this.#timerAt) this.#arm();
  }

  #arm(): void {
    if (this.#stopped) return;
    this.#dropStale();
    const head = this.#heap[0];
    if (head === undefined) {
      this.#timer?.cancel();
      this.#timer = undefined;
      this.#timerAt = Number.POSITIVE_INFINITY;
      return;
    }
    if (this.#timer !== undefined && this.#timerAt === head.at) return;
    this.#timer?.cancel();
    this.#timerAt = head.at;
    this.#timer = this.#o.clock.setTimer(head.at, () => this.#onTimer());
  }

  #onTimer(): void {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = this.#o.clock.now();
    for (;;) {
      this.#dropStale();
      const head = this.#heap[0];
      if (head === undefined || head.at > now) break;
      this.#pop();
      this.#deadlines.delete(head.key);
      if (this.#running.has(head.key)) this.#dirty.add(head.key);
      else this.#ready.add(head.key);
    }
    this.#arm();
    this.#pump();
  }

  #pump(): void {
    if (this.#stopped) {
      this.#notifyIdle();
      return;
    }
    for (const key of this.#ready) {
      if (this.#running.size >= this.#o.concurrency) break;
      if (this.#running.has(key)) continue;
      this.#ready.delete(key);
      this.#run(key);
    }
    this.#notifyIdle();
  }

  #run(key: string): void {
    this.#running.add(key);
    this.#o
      .handler(key)
      .then(
        (next) => {
          this.#failures.delete(key);
          this.#deadlines.delete(key);
          if (next !== undefined) this.#setDeadline(key, next);
        },
        (err: unknown) => {
          const n = (this.#failures.get(key) ?? 0) + 1;
          this.#failures.set(key, n);
          // The retry is scheduled first, so onError can say when it is (deadlineOf).
          this.#setDeadline(key, this.#o.clock.now() + exponentialDelayMs(n, this.#o.errorBackoff));
          this.#o.onError?.(key, err);
        },
      )
      .finally(() => {
        this.#running.delete(key);
        if (this.#dirty.delete(key)) {
          this.#deadlines.delete(key);
          this.#ready.add(key);
        }
        this.#pump();
      });
  }

  #notifyIdle(): void {
    if (this.#running.size > 0) return;
    if (!this.#stopped && this.#ready.size > 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }

  #dropStale(): void {
    for (;;) {
      const head = this.#heap[0];
      if (head === undefined || this.#deadlines.get(head.key) === head.at) return;
      this.#pop();
    }
  }

  #push(item: HeapItem): void {
    const h = this.#heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((h[parent] as HeapItem).at <= item.at) break;
      h[i] = h[parent] as HeapItem;
      i = parent;
    }
    h[i] = item;
  }

  #pop(): HeapItem | undefined {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop();
    if (h.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      let mAt = last.at;
      if (l < h.length && (h[l] as HeapItem).at < mAt) {
        m = l;
        mAt = (h[l] as HeapItem).at;
      }
      if (r < h.length && (h[r] as HeapItem).at < mAt) m = r;
      if (m === i) break;
      h[i] = h[m] as HeapItem;
      i = m;
    }
    h[i] = last;
    return top;
  }
}

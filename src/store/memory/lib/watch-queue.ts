import type { KubeObject, WatchEvent } from "../../types.js";

/**
 * Per-watcher ordered delivery. Events queued before `start()` (the initial
 * ADDED list) are delivered on a microtask, so the caller holds its Watch
 * handle first; later events are delivered as they are pushed, behind any
 * still queued. Objects are delivered as the store keeps them (deeply
 * frozen, shared by every watcher): a callback that wants to change one
 * copies it. A copy per watcher and event was about a sixth of the store's
 * CPU when issuing through ACME (two watchers of every Challenge,
 * Certificate and Secret change).
 */
export class WatchQueue {
  readonly #deliver: (event: WatchEvent<KubeObject>) => void;
  readonly #onError: (err: unknown) => void;
  #queue: WatchEvent<KubeObject>[] = [];
  #head = 0;
  #started = false;
  #stopped = false;
  #draining = false;

  constructor(deliver: (event: WatchEvent<KubeObject>) => void, onError: (err: unknown) => void) {
    this.#deliver = deliver;
    this.#onError = onError;
  }

  push(event: WatchEvent<KubeObject>): void {
    if (this.#stopped) return;
    this.#queue.push(event);
    if (this.#started) this.#drain();
  }

  /** Resolves after the events queued so far (the initial list) were delivered. */
  start(): Promise<void> {
    return new Promise((resolve) => {
      queueMicrotask(() => {
        this.#started = true;
        this.#drain();
        resolve();
      });
    });
  }

  stop(): void {
    this.#stopped = true;
    this.#queue = [];
    this.#head = 0;
  }

  #drain(): void {
    if (this.#draining) return; // a callback pushed (re-entrantly): the running loop delivers it
    this.#draining = true;
    try {
      while (!this.#stopped && this.#head < this.#queue.length) {
        const event = this.#queue[this.#head++] as WatchEvent<KubeObject>;
        try {
          this.#deliver(event);
        } catch (err) {
          this.#onError(err);
        }
      }
    } finally {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
      this.#draining = false;
    }
  }
}

import {
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  ListWatch,
  Watch,
} from "@kubernetes/client-node";
import type { KubeObject, WatchEvent, WatchEventType } from "../../types.js";

export interface InformerOptions<T extends KubeObject> {
  readonly kc: KubeConfig;
  /** Collection path to watch, e.g. /api/v1/namespaces/a/secrets. */
  readonly path: string;
  readonly labelSelector: string | undefined;
  /** One plain-JSON list of the collection (with the selector applied). */
  readonly list: () => Promise<KubernetesListObject<KubernetesObject>>;
  readonly onEvent: (event: WatchEvent<T>) => void;
  /** Re-deliver every cached object as MODIFIED this often; 0 disables. */
  readonly resyncMs: number;
  /** Back-off after a failed list or watch: doubles from min to max, reset once synced again. */
  readonly backoffMinMs: number;
  readonly backoffMaxMs: number;
  /** Told about list/watch failures (they are retried; this is for logs and metrics). */
  readonly onError?: (err: unknown) => void;
}

/**
 * A list+watch cache over client-node's ListWatch, adding what the Store
 * contract needs and ListWatch leaves to its caller:
 * - restart with back-off after any list or watch failure (ListWatch stops);
 *   ListWatch itself re-lists after 410 Gone and re-watches when the server
 *   closes the stream, delivering DELETED/ADDED/MODIFIED for the difference;
 * - a `synced` promise, resolved once the first list was delivered;
 * - periodic resync (MODIFIED for every cached object), as client-go's
 *   informers do, so level-triggered reconcilers re-check their world.
 */
export class Informer<T extends KubeObject> {
  readonly synced: Promise<void>;
  readonly #opts: InformerOptions<T>;
  readonly #lw: ListWatch<KubernetesObject>;
  #resolveSynced!: () => void;
  #isSynced = false;
  #stopped = false;
  #backoffMs: number;
  #retryTimer: NodeJS.Timeout | undefined;
  #resyncTimer: NodeJS.Timeout | undefined;

  constructor(opts: InformerOptions<T>) {
    this.#opts = opts;
    this.#backoffMs = opts.backoffMinMs;
    this.synced = new Promise((resolve) => {
      this.#resolveSynced = resolve;
    });
    this.#lw = new ListWatch(opts.path, new Watch(opts.kc), opts.list, false, opts.labelSelector);
    this.#lw.on("add", (obj) => this.#emit("ADDED", obj));
    this.#lw.on("update", (obj) => this.#emit("MODIFIED", obj));
    this.#lw.on("delete", (obj) => this.#emit("DELETED", obj));
    this.#lw.on("error", (err) => this.#failed(err));
    void this.#start();
    if (opts.resyncMs > 0) {
      this.#resyncTimer = setInterval(() => this.#resync(), opts.resyncMs);
      this.#resyncTimer.unref();
    }
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    clearInterval(this.#resyncTimer);
    void this.#lw.stop();
  }

  async #start(): Promise<void> {
    // start() resolves after the list was delivered and the watch opened, or
    // after a failure was reported to the error callback.
    await this.#lw.start();
    if (this.#stopped || this.#retryTimer !== undefined) return;
    this.#backoffMs = this.#opts.backoffMinMs;
    if (!this.#isSynced) {
      this.#isSynced = true;
      this.#resolveSynced();
    }
  }

  #failed(err: unknown): void {
    // Aborting the watch on stop() surfaces as an error too.
    if (this.#stopped) return;
    this.#opts.onError?.(err);
    clearTimeout(this.#retryTimer);
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#opts.backoffMaxMs);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (!this.#stopped) void this.#start();
    }, delay);
  }

  #resync(): void {
    if (!this.#isSynced || this.#stopped) return;
    for (const obj of this.#lw.list()) this.#emit("MODIFIED", obj);
  }

  #emit(type: WatchEventType, obj: KubernetesObject): void {
    if (this.#stopped) return;
    try {
      this.#opts.onEvent({ type, object: obj as unknown as T });
    } catch (err) {
      // client-node's Watch swallows exceptions from callbacks silently; report them instead,
      // and let the stream go on (the store's contract: a failing consumer does not stop the watch).
      this.#opts.onError?.(err);
    }
  }
}

/**
 * Kubernetes-style Events for Certificates and CertificateRequests, written to
 * the store. Repeats of the same (object, type, reason, message) update one
 * Event's count and lastTimestamp instead of creating a new one, like the
 * Kubernetes event correlator; the dedup memory is bounded (LRU).
 */
import { createHash } from "node:crypto";
import type { KubeObject, Store } from "../store/types.js";
import type { Clock } from "./clock.js";
import { EVENTS, type EventResource } from "./lib/api.js";

export type EventType = "Normal" | "Warning";

export interface EventRecorder {
  /** Fire-and-forget: a failure to write an event never fails a reconcile. */
  record(object: KubeObject, type: EventType, reason: string, message: string): void;
}

export interface StoreEventRecorderOptions {
  readonly store: Store;
  readonly clock: Clock;
  /** `source.component`, e.g. "meshsign-engine". */
  readonly component?: string;
  /** How many distinct events are remembered for de-duplication. */
  readonly maxTracked?: number;
  /** Called when a write fails (for the log); never rethrown. */
  readonly onError?: (err: unknown) => void;
}

const DEFAULT_MAX_TRACKED = 10_000;
/** Messages are capped like the Kubernetes API does (1 KiB in events.k8s.io). */
const MAX_MESSAGE = 1024;

export class StoreEventRecorder implements EventRecorder {
  readonly #o: Required<Omit<StoreEventRecorderOptions, "onError">> & Pick<StoreEventRecorderOptions, "onError">;
  /** dedup key -> the event as last written. */
  readonly #seen = new Map<string, EventResource>();
  #pending: Promise<void> = Promise.resolve();

  constructor(options: StoreEventRecorderOptions) {
    this.#o = { component: "meshsign-engine", maxTracked: DEFAULT_MAX_TRACKED, ...options };
  }

  record(object: KubeObject, type: EventType, reason: string, message: string): void {
    const msg = message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message;
    // Writes are chained so counts for one key never race each other.
    this.#pending = this.#pending.then(() => this.#write(object, type, reason, msg)).catch((err) => this.#o.onError?.(err));
  }

  /** Resolves once every recorded event was written (tests, graceful stop). */
  flush(): Promise<void> {
    return this.#pending;
  }

  async #write(object: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    const ns = object.metadata.namespace ?? "default";
    const name = object.metadata.name ?? "";
    const key = [object.kind, ns, name, object.metadata.uid ?? "", type, reason, message].join("\u0000");
    const now = new Date(this.#o.clock.now()).toISOString();
    const previous = this.#seen.get(key);
    if (previous !== undefined) {
      this.#seen.delete(key);
      const updated: EventResource = { ...previous, count: previous.count + 1, lastTimestamp: now };
      try {
        const stored = await this.#o.store.update<EventResource>(EVENTS, { ...updated, metadata: { ...updated.metadata, resourceVersion: undefined } });
        this.#remember(key, stored);
        return;
      } catch {
        // The event was deleted (TTL, user): fall through and create it again.
      }
    }
    const suffix = createHash("sha256").update(key).update(now).digest("hex").slice(0, 16);
    const event: EventResource = {
      apiVersion: "v1",
      kind: "Event",
      metadata: { name: `${name}.${suffix}`.slice(-253).replace(/^[.-]+/, ""), namespace: ns },
      involvedObject: { apiVersion: object.apiVersion, kind: object.kind, name, namespace: ns, ...(object.metadata.uid ? { uid: object.metadata.uid } : {}) },
      reason,
      message,
      type,
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component: this.#o.component },
    };
    const stored = await this.#o.store.create<EventResource>(EVENTS, event);
    this.#remember(key, stored);
  }

  #remember(key: string, event: EventResource): void {
    this.#seen.set(key, event);
    if (this.#seen.size > this.#o.maxTracked) {
      const oldest = this.#seen.keys().next().value;
      if (oldest !== undefined) this.#seen.delete(oldest);
    }
  }
}

/** Discards events (benchmarks, or when the caller does not want them). */
export const noopEventRecorder: EventRecorder = { record() {} };

/**
 * Kubernetes-style Events for Certificates and CertificateRequests, written to
 * the store. Repeats of the same (object, type, reason, message) update one
 * Event's count and lastTimestamp instead of creating a new one, like the
 * Kubernetes event correlator; the dedup memory is bounded (LRU). Both
 * recorders also aggregate and rate-limit as client-go does (see
 * lib/event-correlator.ts): an object that keeps failing makes a handful of
 * counted Events, not one per attempt.
 *
 * Writes for one dedup key are ordered (counts never race); writes for
 * different keys run concurrently, so a burst of issuances shares the store's
 * group commits instead of queueing behind one another. Events expire after
 * `ttlMs` (default 1 h, kube-apiserver's `--event-ttl`): the embedded store
 * has no TTL of its own, and without one every issuance would add Events for
 * ever.
 */
import { createHash } from "node:crypto";
import { isMeshsignError } from "../errors/index.js";
import type { KubeObject, Store } from "../store/types.js";
import type { Clock, Timer } from "./clock.js";
import { EVENTS, type EventResource } from "./lib/api.js";
import { COMBINED_PREFIX, EventCorrelator } from "./lib/event-correlator.js";

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
  /** How long an Event lives after its last occurrence. Default 1 h. */
  readonly ttlMs?: number;
  /**
   * Most Events kept in the store; beyond it the oldest go first. Default
   * 10,000. The embedded store holds every object in memory, and a burst of
   * issuances writes six or seven Events each.
   */
  readonly maxEvents?: number;
  /**
   * Whether this recorder deletes expired Events itself (default true). The
   * Kubernetes API server expires Events on its own (`--event-ttl`), so in
   * Kubernetes mode meshsign neither lists nor deletes them (nor needs RBAC to).
   */
  readonly expire?: boolean;
  /** Called when a write fails (for the log); never rethrown. */
  readonly onError?: (err: unknown) => void;
}

const DEFAULT_MAX_TRACKED = 10_000;
export const DEFAULT_EVENT_TTL_MS = 3_600_000;
export const DEFAULT_MAX_EVENTS = 10_000;
/** Expired Events deleted per pass, so a sweep never floods the store. */
const SWEEP_BATCH = 500;
/** Messages are capped like the Kubernetes API does (1 KiB in events.k8s.io). */
const MAX_MESSAGE = 1024;

export class StoreEventRecorder implements EventRecorder {
  readonly #o: Required<Omit<StoreEventRecorderOptions, "onError">> & Pick<StoreEventRecorderOptions, "onError">;
  /** dedup key -> where the event was last written and its count (not the whole Event: 10,000 of these are kept). */
  readonly #seen = new Map<string, SeenEvent>();
  /** dedup key -> the tail of that key's write chain, while writes are in flight. */
  readonly #chains = new Map<string, Promise<void>>();
  /** Every write in flight, for flush(). */
  readonly #inFlight = new Set<Promise<void>>();
  /** "<ns>/<name>" of Events this recorder knows -> expiry (ms), in insertion order. */
  readonly #expiry = new Map<string, number>();
  #timer: Timer | undefined;
  #sweeping = false;
  readonly #correlator: EventCorrelator;

  constructor(options: StoreEventRecorderOptions) {
    this.#o = { component: "meshsign-engine", maxTracked: DEFAULT_MAX_TRACKED, ttlMs: DEFAULT_EVENT_TTL_MS, maxEvents: DEFAULT_MAX_EVENTS, expire: true, ...options };
    this.#correlator = new EventCorrelator({ clock: this.#o.clock });
  }

  record(object: KubeObject, type: EventType, reason: string, message: string): void {
    const c = this.#correlator.correlate(objectKey(object), type, reason, message);
    if (c === undefined) return;
    const msg = truncate(c.message);
    const key = dedupKey(object, type, reason, c.combined ? COMBINED_PREFIX : msg);
    const previous = this.#chains.get(key) ?? Promise.resolve();
    const write = previous.then(() => this.#write(key, object, type, reason, msg)).catch((err) => this.#o.onError?.(err));
    this.#chains.set(key, write);
    this.#inFlight.add(write);
    void write.finally(() => {
      this.#inFlight.delete(write);
      if (this.#chains.get(key) === write) this.#chains.delete(key);
    });
  }

  /** Resolves once every recorded event was written (tests, graceful stop). */
  async flush(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
  }

  /**
   * Learns the Events already in the store (from an earlier run), deletes the
   * expired ones and keeps deleting as they expire. Call once at start.
   */
  async start(): Promise<void> {
    if (this.#o.expire === false) return;
    const events = await this.#o.store.list<EventResource>(EVENTS, {});
    const known = events
      .map((e) => ({ id: `${e.metadata.namespace ?? ""}/${e.metadata.name ?? ""}`, at: Date.parse(e.lastTimestamp) + this.#o.ttlMs }))
      .sort((a, b) => a.at - b.at);
    for (const e of known) if (!this.#expiry.has(e.id)) this.#expiry.set(e.id, Number.isFinite(e.at) ? e.at : 0);
    await this.sweep();
  }

  /** Stops the expiry timer (writes in flight still complete; see flush). */
  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /** Deletes the Events whose time is up or that exceed maxEvents; re-arms itself for the next one. */
  async sweep(): Promise<void> {
    if (this.#sweeping) return;
    this.#sweeping = true;
    try {
      for (;;) {
        const now = this.#o.clock.now();
        const due: string[] = [];
        let excess = this.#expiry.size - this.#o.maxEvents;
        for (const [id, at] of this.#expiry) {
          // Insertion order is nearly expiry order; an entry refreshed by a repeat is re-inserted at the end.
          if (at > now && excess <= 0) break;
          due.push(id);
          excess--;
          if (due.length >= SWEEP_BATCH) break;
        }
        if (due.length === 0) break;
        await Promise.all(
          due.map(async (id) => {
            this.#expiry.delete(id);
            const slash = id.indexOf("/");
            try {
              await this.#o.store.delete(EVENTS, id.slice(0, slash), id.slice(slash + 1));
            } catch (err) {
              if (!isMeshsignError(err, "ERR_NOT_FOUND")) this.#o.onError?.(err);
            }
          }),
        );
      }
    } finally {
      this.#sweeping = false;
    }
    this.#arm();
  }

  #arm(): void {
    const next = this.#expiry.values().next();
    this.#timer?.cancel();
    this.#timer = next.done === true ? undefined : this.#o.clock.setTimer(next.value, () => void this.sweep());
  }

  #track(event: EventResource): void {
    if (this.#o.expire === false) return;
    const id = `${event.metadata.namespace ?? ""}/${event.metadata.name ?? ""}`;
    this.#expiry.delete(id);
    this.#expiry.set(id, Date.parse(event.lastTimestamp) + this.#o.ttlMs);
    if (this.#expiry.size > this.#o.maxEvents) {
      const sweep = this.sweep();
      this.#inFlight.add(sweep);
      void sweep.finally(() => this.#inFlight.delete(sweep));
    } else if (this.#timer === undefined) this.#arm();
  }

  async #write(key: string, object: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    const ns = object.metadata.namespace ?? "default";
    const name = object.metadata.name ?? "";
    const now = new Date(this.#o.clock.now()).toISOString();
    const event = (eventName: string, count: number, firstTimestamp: string): EventResource => ({
      apiVersion: "v1",
      kind: "Event",
      metadata: { name: eventName, namespace: ns },
      involvedObject: { apiVersion: object.apiVersion, kind: object.kind, name, namespace: ns, ...(object.metadata.uid ? { uid: object.metadata.uid } : {}) },
      reason,
      message,
      type,
      count,
      firstTimestamp,
      lastTimestamp: now,
      source: { component: this.#o.component },
    });
    const previous = this.#seen.get(key);
    // With expire on, an Event this recorder deleted is not updated; with it off (Kubernetes) the API
    // server expires Events, and updating one it already removed fails and creates a new one below.
    if (previous !== undefined && (this.#o.expire === false || this.#expiry.has(`${ns}/${previous.name}`))) {
      this.#seen.delete(key);
      try {
        const stored = await this.#o.store.update<EventResource>(EVENTS, event(previous.name, previous.count + 1, previous.firstTimestamp));
        this.#remember(key, stored);
        return;
      } catch {
        // The event was deleted (by a user): fall through and create it again.
      }
    }
    const suffix = createHash("sha256").update(key).update(now).digest("hex").slice(0, 16);
    const stored = await this.#o.store.create<EventResource>(EVENTS, event(`${name}.${suffix}`.slice(-253).replace(/^[.-]+/, ""), 1, now));
    this.#remember(key, stored);
  }

  #remember(key: string, event: EventResource): void {
    this.#track(event);
    this.#seen.set(key, { name: event.metadata.name ?? "", count: event.count, firstTimestamp: event.firstTimestamp });
    if (this.#seen.size > this.#o.maxTracked) {
      const oldest = this.#seen.keys().next().value;
      if (oldest !== undefined) this.#seen.delete(oldest);
    }
  }
}

interface SeenEvent {
  readonly name: string;
  readonly count: number;
  readonly firstTimestamp: string;
}

function truncate(message: string): string {
  return message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message;
}

/** The involved object, for the correlator (kind, namespace, name, uid: a re-created object is another). */
function objectKey(object: KubeObject): string {
  return [object.apiVersion, object.kind, object.metadata.namespace ?? "default", object.metadata.name ?? "", object.metadata.uid ?? ""].join("\u0000");
}

function dedupKey(object: KubeObject, type: EventType, reason: string, message: string): string {
  return [object.kind, object.metadata.namespace ?? "default", object.metadata.name ?? "", object.metadata.uid ?? "", type, reason, message].join("\u0000");
}

/** A recorder that can also answer which Events it holds (the engine's describe reads them from it). */
export interface EventLog extends EventRecorder {
  /** The live Events of a namespace, oldest first. */
  list(namespace: string): EventResource[];
}

export interface MemoryEventRecorderOptions {
  readonly clock: Clock;
  readonly component?: string;
  /** How long an Event lives after its last occurrence. Default 1 h. */
  readonly ttlMs?: number;
  /** Most Events kept; beyond it the oldest go first. Default 10,000. */
  readonly maxEvents?: number;
}

/**
 * Events kept in memory only, with the same de-duplication, TTL and cap as
 * {@link StoreEventRecorder}. For the standalone server: Events are an
 * operator's aid (`meshsign status`), and writing each one durably to the
 * embedded store costs about a third of the engine's CPU and most of its
 * memory churn during an issuance burst (six or seven Events per
 * Certificate). They do not survive a restart, as Kubernetes Events do not
 * survive their hour.
 */
export class MemoryEventRecorder implements EventLog {
  readonly #o: Required<MemoryEventRecorderOptions>;
  /**
   * Memory key -> occurrences, in order of last occurrence. The key holds every field of the
   * Event (see {@link memoryKey}) and the Event is rebuilt from it when listed: about 300 bytes
   * an Event where a whole EventResource cost about 700 (10,000 are kept).
   */
  readonly #events = new Map<string, Occurrences>();
  readonly #correlator: EventCorrelator;

  constructor(options: MemoryEventRecorderOptions) {
    this.#o = { component: "meshsign-engine", ttlMs: DEFAULT_EVENT_TTL_MS, maxEvents: DEFAULT_MAX_EVENTS, ...options };
    this.#correlator = new EventCorrelator({ clock: this.#o.clock });
  }

  record(object: KubeObject, type: EventType, reason: string, message: string): void {
    const c = this.#correlator.correlate(objectKey(object), type, reason, message);
    if (c === undefined) return;
    const msg = truncate(c.message);
    // A combined Event is one Event for all of its reason's messages, showing the latest.
    const key = memoryKey(object, type, reason, c.combined ? COMBINED_PREFIX : msg);
    const now = this.#o.clock.now();
    const previous = this.#events.get(key);
    this.#events.delete(key);
    const latest = c.combined ? { message: msg } : {};
    this.#events.set(key, previous === undefined ? { count: 1, firstMs: now, lastMs: now, ...latest } : { count: previous.count + 1, firstMs: previous.firstMs, lastMs: now, ...latest });
    this.#expire();
  }

  list(namespace: string): EventResource[] {
    this.#expire();
    const out: EventResource[] = [];
    for (const [key, o] of this.#events) {
      const [apiVersion = "", kind = "", ns = "", name = "", uid = "", type = "Normal", reason = "", keyMessage = ""] = key.split("\u0000");
      const message = o.message ?? keyMessage;
      if (ns !== namespace) continue;
      const first = new Date(o.firstMs).toISOString();
      // The same name for the same Event every time it is listed (as the first write named it).
      const suffix = createHash("sha256").update(key).update(first).digest("hex").slice(0, 16);
      out.push({
        apiVersion: "v1",
        kind: "Event",
        metadata: { name: `${name}.${suffix}`.slice(-253).replace(/^[.-]+/, ""), namespace: ns, creationTimestamp: first },
        involvedObject: { apiVersion, kind, name, namespace: ns, ...(uid !== "" ? { uid } : {}) },
        reason,
        message,
        type: type === "Warning" ? "Warning" : "Normal",
        count: o.count,
        firstTimestamp: first,
        lastTimestamp: new Date(o.lastMs).toISOString(),
        source: { component: this.#o.component },
      });
    }
    return out;
  }

  /** Drops Events past their TTL and the oldest beyond maxEvents (the map is in order of last occurrence). */
  #expire(): void {
    const oldestAllowed = this.#o.clock.now() - this.#o.ttlMs;
    for (const [key, o] of this.#events) {
      if (this.#events.size <= this.#o.maxEvents && o.lastMs > oldestAllowed) break;
      this.#events.delete(key);
    }
  }
}

interface Occurrences {
  readonly count: number;
  readonly firstMs: number;
  readonly lastMs: number;
  /** The latest message of a combined Event (others carry theirs in the key). */
  readonly message?: string;
}

/** Every field of an in-memory Event, NUL-separated (no field can hold a NUL: names are RFC 1123, messages are ours). */
function memoryKey(object: KubeObject, type: EventType, reason: string, message: string): string {
  return [object.apiVersion, object.kind, object.metadata.namespace ?? "default", object.metadata.name ?? "", object.metadata.uid ?? "", type, reason, message.replaceAll("\u0000", "")].join("\u0000");
}

/** Discards events (benchmarks, or when the caller does not want them). */
export const noopEventRecorder: EventRecorder = { record() {} };

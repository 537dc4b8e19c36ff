/**
 * client-go's EventCorrelator (`tools/record/events_cache.go`), which every
 * Kubernetes controller's Events go through, for both of the engine's event
 * recorders:
 *
 * - aggregation: when one object emits more than 10 Events of one type and
 *   reason with different messages within 10 minutes, the rest are folded
 *   into one Event whose message starts "(combined from similar events): "
 *   (messages that carry a changing detail cannot make an Event each);
 * - spam filter: a token bucket per object (25 Events at once, then one per
 *   5 minutes); Events past it are dropped, repeats of a known Event too.
 *
 * Identical repeats are counted by the recorders themselves (count and
 * lastTimestamp on one Event). Memory is bounded: 4,096 objects of each
 * cache, least recently used first out, as client-go's LRU caches.
 */
import type { Clock } from "../clock.js";

/** client-go defaults (`defaultAggregateMaxEvents`, `defaultAggregateIntervalInSeconds`, `defaultSpamBurst`, `defaultSpamQPS`). */
export const AGGREGATE_MAX_EVENTS = 10;
export const AGGREGATE_INTERVAL_MS = 600_000;
export const SPAM_BURST = 25;
export const SPAM_REFILL_MS = 300_000;
const MAX_ENTRIES = 4096;

export const COMBINED_PREFIX = "(combined from similar events): ";

export interface CorrelatorOptions {
  readonly clock: Clock;
  readonly aggregateMaxEvents?: number;
  readonly aggregateIntervalMs?: number;
  readonly spamBurst?: number;
  /** One token per this many ms. */
  readonly spamRefillMs?: number;
}

/** What to record: the message, and whether it is the combined Event of its reason (one Event for all messages). */
export interface Correlated {
  readonly message: string;
  readonly combined: boolean;
}

interface Aggregate {
  readonly messages: Set<string>;
  lastMs: number;
}

interface Bucket {
  tokens: number;
  refilledMs: number;
}

export class EventCorrelator {
  readonly #o: Required<CorrelatorOptions>;
  readonly #aggregates = new Map<string, Aggregate>();
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: CorrelatorOptions) {
    this.#o = {
      aggregateMaxEvents: AGGREGATE_MAX_EVENTS,
      aggregateIntervalMs: AGGREGATE_INTERVAL_MS,
      spamBurst: SPAM_BURST,
      spamRefillMs: SPAM_REFILL_MS,
      ...options,
    };
  }

  /**
   * `objectKey` names the involved object (kind, namespace, name, uid). Returns undefined when
   * the spam filter drops the Event.
   */
  correlate(objectKey: string, type: string, reason: string, message: string): Correlated | undefined {
    const now = this.#o.clock.now();
    const aggregateKey = `${objectKey}\u0000${type}\u0000${reason}`;
    let aggregate = this.#aggregates.get(aggregateKey);
    if (aggregate === undefined || now - aggregate.lastMs > this.#o.aggregateIntervalMs) aggregate = { messages: new Set(), lastMs: now };
    aggregate.lastMs = now;
    let combined = false;
    if (aggregate.messages.has(message) || aggregate.messages.size < this.#o.aggregateMaxEvents) aggregate.messages.add(message);
    else combined = true;
    touch(this.#aggregates, aggregateKey, aggregate);

    let bucket = this.#buckets.get(objectKey);
    if (bucket === undefined) bucket = { tokens: this.#o.spamBurst, refilledMs: now };
    const refill = Math.floor((now - bucket.refilledMs) / this.#o.spamRefillMs);
    if (refill > 0) {
      bucket.tokens = Math.min(this.#o.spamBurst, bucket.tokens + refill);
      bucket.refilledMs = bucket.tokens === this.#o.spamBurst ? now : bucket.refilledMs + refill * this.#o.spamRefillMs;
    }
    touch(this.#buckets, objectKey, bucket);
    if (bucket.tokens < 1) return undefined;
    bucket.tokens--;
    return combined ? { message: `${COMBINED_PREFIX}${message}`, combined } : { message, combined };
  }
}

/** Re-inserts `key` as the most recently used, evicting the least recently used beyond the bound. */
function touch<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > MAX_ENTRIES) {
    const oldest = map.keys().next().value;
    if (oldest !== undefined) map.delete(oldest);
  }
}

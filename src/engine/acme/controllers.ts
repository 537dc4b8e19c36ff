/**
 * The ACME side of the engine: the Order and Challenge controllers on their
 * own work queues, the Challenge scheduler, the request signer the ACME
 * issuers sign through, and the token lookup the HTTP-01 solver listener
 * answers from. Everything is driven by watches on the store, so Orders and
 * Challenges left by an earlier process (a restart, `kill -9`) are resumed
 * where they stood.
 */
import {
  DEFAULT_MAX_CONCURRENT_CHALLENGES,
  pickChallenges,
  type ScheduledChallenge,
} from "../../acme/challenge-schedule.js";
import { CHALLENGES, type Challenge, ORDERS, type Order } from "../../api/types.js";
import type { IssuerRegistry, ServiceAccountTokenRequester } from "../../issuers/registry.js";
import type { Store, Watch, WatchEvent } from "../../store/types.js";
import { type BackoffOptions, exponentialDelayMs } from "../backoff.js";
import type { Clock, Timer } from "../clock.js";
import type { EventRecorder } from "../events.js";
import { ANN } from "../lib/annotations.js";
import type { AcmeStateCounts } from "../metrics.js";
import { DEFAULT_ERROR_BACKOFF, Scheduler } from "../scheduler.js";
import {
  ChallengeController,
  type Dns01Propagation,
  type Http01RoutesOptions,
  type Http01SelfCheckOptions,
  isFinalChallenge,
} from "./challenge-controller.js";
import { OrderController } from "./order-controller.js";
import { AcmeRequestSigner } from "./request-signer.js";

export interface AcmeOptions {
  /** Challenges in flight at once (`--max-concurrent-challenges`). Default 60. */
  readonly maxConcurrentChallenges?: number;
  /** Deadline of an Order from its creation. Default 1 h. */
  readonly orderTimeoutMs?: number;
  readonly http01SelfCheck?: Http01SelfCheckOptions;
  /** Back-off between attempts of a failed DNS-01 clean-up. Default 5 s doubling to 5 min. */
  readonly dns01CleanUpBackoff?: BackoffOptions;
  /** DNS-01 record resolution and propagation check; DNS-01 Challenges error without it. */
  readonly dns01Propagation?: Dns01Propagation;
  /** Kubernetes mode: route HTTP-01 Challenges to meshsign's Service through an Ingress or HTTPRoute. */
  readonly http01Routes?: Http01RoutesOptions;
  /**
   * The HTTP-01 solver listener tells the engine ({@link AcmeControllers.noteHttp01Served}) each
   * token it answers for, as standalone's does: a Challenge's first look at its authorization then
   * follows the CA's fetch instead of a fixed half second. Off, nothing waits for that call.
   */
  readonly http01ServedSignals?: boolean;
  /** Kubernetes mode: TokenRequest for DNS-01 providers' serviceAccountRef (Route53). */
  readonly requestServiceAccountToken?: ServiceAccountTokenRequester;
}

export interface AcmeControllersDeps extends AcmeOptions {
  readonly store: Store;
  readonly clock: Clock;
  readonly registry: IssuerRegistry;
  readonly events: EventRecorder;
  /** An Order changed state or reason: its Certificate should look again. */
  readonly onOrderChanged?: (namespace: string, certificateName: string) => void;
  readonly onError?: (key: string, err: unknown) => void;
}

/** Objects by their `status.state` ("new" without one), kept off the watches for the metrics. */
class StateCounts {
  readonly #stateOf = new Map<string, string>();
  readonly counts = new Map<string, number>();

  set(key: string, state: string | undefined): void {
    const next = state === undefined || state === "" ? "new" : state;
    const prev = this.#stateOf.get(key);
    if (prev === next) return;
    if (prev !== undefined) this.#add(prev, -1);
    this.#stateOf.set(key, next);
    this.#add(next, 1);
  }

  delete(key: string): void {
    const prev = this.#stateOf.get(key);
    if (prev === undefined) return;
    this.#stateOf.delete(key);
    this.#add(prev, -1);
  }

  #add(state: string, n: number): void {
    const v = (this.counts.get(state) ?? 0) + n;
    if (v === 0) this.counts.delete(state);
    else this.counts.set(state, v);
  }
}

/** Orders reconciled at once (each is a few ACME requests). */
const ORDER_CONCURRENCY = 16;

export class AcmeControllers {
  readonly signer: AcmeRequestSigner;
  readonly #d: AcmeControllersDeps;
  readonly #orders: Scheduler;
  readonly #challenges: Scheduler;
  readonly #watches: Watch[] = [];
  /** Challenge key -> what the scheduler needs. */
  readonly #known = new Map<string, ScheduledChallenge>();
  /** HTTP-01 token -> what waits for the solver listener to answer for it (after an accept). */
  readonly #servedWaiters = new Map<string, Set<() => void>>();
  /** HTTP-01 token -> name and key authorization, for the solver listener. */
  /** Order key "<ns>/<name>" -> names of the Challenges it owns, kept off the Challenge watch. */
  readonly #challengesByOrder = new Map<string, Set<string>>();
  readonly #orderStates = new StateCounts();
  readonly #challengeStates = new StateCounts();
  /** Order key -> "state|reason", to wake the Certificate only on a change. */
  readonly #orderSeen = new Map<string, string>();
  /** Challenge key -> "state|reason", what its Order reads: to wake the Order only on a change. */
  readonly #challengeSeen = new Map<string, string>();
  #passQueued = false;
  /** Passes in a row that could not start a Challenge, and the timer that tries again. */
  #passFailures = 0;
  #passRetry: Timer | undefined;
  #started = false;

  constructor(deps: AcmeControllersDeps) {
    this.#d = deps;
    this.signer = new AcmeRequestSigner({ store: deps.store, clock: deps.clock, events: deps.events });
    const orders = new OrderController({
      store: deps.store,
      clock: deps.clock,
      registry: deps.registry,
      events: deps.events,
      ...(deps.orderTimeoutMs !== undefined ? { orderTimeoutMs: deps.orderTimeoutMs } : {}),
      challengeNamesOf: (ns, order) => [...(this.#challengesByOrder.get(`${ns}/${order}`) ?? [])],
    });
    const challenges = new ChallengeController({
      store: deps.store,
      challengeNamesOf: (ns, order) => [...(this.#challengesByOrder.get(`${ns}/${order}`) ?? [])],
      ...(deps.dns01CleanUpBackoff !== undefined ? { cleanUpBackoff: deps.dns01CleanUpBackoff } : {}),
      clock: deps.clock,
      registry: deps.registry,
      events: deps.events,
      ...(deps.http01SelfCheck !== undefined ? { http01SelfCheck: deps.http01SelfCheck } : {}),
      ...(deps.dns01Propagation !== undefined ? { dns01Propagation: deps.dns01Propagation } : {}),
      ...(deps.http01Routes !== undefined ? { http01Routes: deps.http01Routes } : {}),
      ...(deps.requestServiceAccountToken !== undefined
        ? { requestServiceAccountToken: deps.requestServiceAccountToken }
        : {}),
      ...(deps.http01ServedSignals === true ? { http01Served: (token: string) => this.#waitServed(token) } : {}),
    });
    const split = (key: string): [string, string] => {
      const i = key.indexOf("/");
      return [key.slice(0, i), key.slice(i + 1)];
    };
    this.#orders = new Scheduler({
      clock: deps.clock,
      concurrency: ORDER_CONCURRENCY,
      handler: (key) => orders.reconcile(...split(key)),
      ...(deps.onError
        ? { onError: (key: string, err: unknown) => deps.onError?.(`Order ${key}`, err) }
        : {}),
    });
    this.#challenges = new Scheduler({
      clock: deps.clock,
      // The scheduler below admits at most maxConcurrentChallenges; the queue never needs more.
      concurrency: deps.maxConcurrentChallenges ?? DEFAULT_MAX_CONCURRENT_CHALLENGES,
      handler: (key) => challenges.reconcile(...split(key)),
      ...(deps.onError
        ? { onError: (key: string, err: unknown) => deps.onError?.(`Challenge ${key}`, err) }
        : {}),
    });
  }

  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const orders = this.#d.store.watch<Order>(ORDERS, (e) => this.#onOrder(e));
    const challenges = this.#d.store.watch<Challenge>(CHALLENGES, (e) => this.#onChallenge(e));
    this.#watches.push(orders, challenges);
    await Promise.all([orders.synced, challenges.synced]);
    this.#orders.start();
    this.#challenges.start();
    this.#queuePass();
  }

  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    for (const w of this.#watches.splice(0)) w.stop();
    this.#passRetry?.cancel();
    this.#passRetry = undefined;
    await Promise.all([this.#orders.stop(), this.#challenges.stop()]);
  }

  get busy(): boolean {
    return this.#orders.busy || this.#challenges.busy || this.#passQueued;
  }

  async idle(): Promise<void> {
    await Promise.all([this.#orders.idle(), this.#challenges.idle()]);
  }

  /** The Orders and Challenges this engine watches, by state; none while it is stopped (not the leader). */
  stateCounts(): AcmeStateCounts {
    if (!this.#started) return { orders: new Map(), challenges: new Map() };
    return { orders: this.#orderStates.counts, challenges: this.#challengeStates.counts };
  }

  /** An issuer was rebuilt: its Orders may proceed now (account registered, solvers changed). */
  issuerChanged(): void {
    for (const [key, seen] of this.#orderSeen)
      if (!/^(valid|invalid|expired|errored)\|/.test(seen)) this.#orders.enqueue(key);
  }

  /** The solver listener answered for `token`: what waits for the CA's fetch of it goes on. */
  noteHttp01Served(token: string): void {
    const waiters = this.#servedWaiters.get(token);
    if (waiters === undefined) return;
    this.#servedWaiters.delete(token);
    for (const wake of waiters) wake();
  }

  /** Resolves when the solver listener next answers for `token`; cancel() forgets the wait. */
  #waitServed(token: string): { served: Promise<void>; cancel(): void } {
    let wake = (): void => {};
    const served = new Promise<void>((resolve) => {
      wake = resolve;
    });
    const waiters = this.#servedWaiters.get(token) ?? new Set<() => void>();
    waiters.add(wake);
    this.#servedWaiters.set(token, waiters);
    return {
      served,
      cancel: () => {
        const set = this.#servedWaiters.get(token);
        set?.delete(wake);
        if (set?.size === 0) this.#servedWaiters.delete(token);
      },
    };
  }

  #onOrder(e: WatchEvent<Order>): void {
    const o = e.object;
    const ns = o.metadata.namespace ?? "";
    const key = `${ns}/${o.metadata.name ?? ""}`;
    if (e.type === "DELETED") {
      this.#orderStates.delete(key);
      this.#orderSeen.delete(key);
      this.#orders.forget(key);
      return;
    }
    this.#orderStates.set(key, o.status?.state);
    const seen = `${o.status?.state ?? ""}|${o.status?.reason ?? ""}|${o.status?.certificate === undefined ? "" : "cert"}`;
    const prev = this.#orderSeen.get(key);
    this.#orderSeen.set(key, seen);
    if (prev === seen && e.type === "MODIFIED") return;
    // A new Order placed at the CA (no state -> "pending", nothing to say yet): the pass that
    // placed it goes on to its Challenges (or is retried), so it is not run again for this,
    // and its request's "Created Order" answer is as true as a "pending" one, so the
    // Certificate looks again at the Order's next change (an Order pass with a signed request,
    // a request and a Certificate write saved).
    const placed = e.type === "MODIFIED" && prev === "||" && seen === "pending||";
    if (placed) return;
    this.#orders.enqueue(key);
    const cert = o.metadata.annotations?.[ANN.certificateName];
    if (prev !== undefined && cert !== undefined) this.#d.onOrderChanged?.(ns, cert);
  }

  #onChallenge(e: WatchEvent<Challenge>): void {
    const c = e.object;
    const ns = c.metadata.namespace ?? "";
    const key = `${ns}/${c.metadata.name ?? ""}`;
    const owner = c.metadata.ownerReferences?.find((o) => o.kind === "Order");
    const orderKey = owner === undefined ? undefined : `${ns}/${owner.name}`;
    if (e.type === "DELETED") {
      if (orderKey !== undefined) {
        const names = this.#challengesByOrder.get(orderKey);
        names?.delete(c.metadata.name ?? "");
        if (names?.size === 0) this.#challengesByOrder.delete(orderKey);
      }
      this.#known.delete(key);
      this.#challengeStates.delete(key);
      this.#challengeSeen.delete(key);
      this.#challenges.forget(key);
      if (orderKey !== undefined) this.#wakeSettledSiblings(orderKey, key);
      this.#queuePass();
      return;
    }
    if (orderKey !== undefined) {
      const names = this.#challengesByOrder.get(orderKey) ?? new Set<string>();
      names.add(c.metadata.name ?? "");
      this.#challengesByOrder.set(orderKey, names);
    }
    this.#challengeStates.set(key, c.status?.state);
    const prev = this.#known.get(key);
    const final = isFinalChallenge(c);
    // A Challenge being deleted is only cleaned up, never started: it must not hold its name and
    // type against another Order's Challenge, which a DNS-01 clean-up that keeps failing (the
    // Challenge deleted while pending, with its Order) would otherwise do for as long as it fails.
    if (c.metadata.deletionTimestamp !== undefined) this.#known.delete(key);
    else
      this.#known.set(key, {
        key,
        dnsName: c.spec.dnsName,
        wildcard: c.spec.wildcard === true,
        type: c.spec.type,
        createdMs: Date.parse(c.metadata.creationTimestamp ?? "") || 0,
        processing: c.status?.processing === true,
        final,
      });
    if (
      c.metadata.deletionTimestamp !== undefined ||
      c.status?.processing === true ||
      (final && (c.status?.presented === true || prev?.processing === true))
    )
      this.#challenges.enqueue(key);
    // A valid DNS-01 sibling may be keeping its value for this one: it looks again once this settles.
    if (
      orderKey !== undefined &&
      ((final && prev?.final !== true) || c.metadata.deletionTimestamp !== undefined)
    )
      this.#wakeSettledSiblings(orderKey, key);
    // The owning Order looks again when what it reads of a Challenge changes: a final state or
    // the reason (not "pending", nor the Challenge controller's processing/presented). Not for a
    // new Challenge either: the Order pass that created it goes on with it, and after a restart
    // every Order is looked at anyway.
    const seen = `${final ? c.status?.state : ""}|${c.status?.reason ?? ""}`;
    const seenBefore = this.#challengeSeen.get(key);
    this.#challengeSeen.set(key, seen);
    if (orderKey !== undefined && seenBefore !== undefined && seenBefore !== seen)
      this.#orders.enqueue(orderKey);
    this.#queuePass();
  }

  /** Enqueues the final Challenges of an Order other than `except` (a no-op for those with nothing to clean). */
  #wakeSettledSiblings(orderKey: string, except: string): void {
    const ns = orderKey.slice(0, orderKey.indexOf("/"));
    for (const name of this.#challengesByOrder.get(orderKey) ?? []) {
      const key = `${ns}/${name}`;
      if (key !== except && this.#known.get(key)?.final === true) this.#challenges.enqueue(key);
    }
  }

  /** One scheduling pass per burst of events. */
  #queuePass(): void {
    if (this.#passQueued || !this.#started) return;
    this.#passQueued = true;
    setImmediate(() => {
      this.#passQueued = false;
      void this.#pass();
    });
  }

  async #pass(): Promise<void> {
    const start = pickChallenges(
      this.#known.values(),
      this.#d.maxConcurrentChallenges ?? DEFAULT_MAX_CONCURRENT_CHALLENGES,
    );
    let refused = false;
    for (const key of start) {
      const known = this.#known.get(key);
      if (known !== undefined) this.#known.set(key, { ...known, processing: true });
      const i = key.indexOf("/");
      try {
        const ch = await this.#d.store.get<Challenge>(CHALLENGES, key.slice(0, i), key.slice(i + 1));
        if (ch === undefined || ch.status?.processing === true || ch.metadata.deletionTimestamp !== undefined)
          continue;
        const updated = await this.#d.store.updateStatus<Challenge>(CHALLENGES, {
          ...ch,
          status: { ...(ch.status ?? {}), processing: true },
        });
        this.#d.events.record(updated, "Normal", "Started", "Challenge scheduled for processing");
      } catch (err) {
        if (known !== undefined) this.#known.set(key, known);
        refused = true;
        this.#d.onError?.(`Challenge ${key}`, err);
      }
    }
    if (!refused) {
      this.#passFailures = 0;
      return;
    }
    // A start the store refused is tried again: no other change may come to start it (the one
    // Challenge of an Order), and it would wait unstarted, saying nothing, until its Order's deadline.
    this.#passFailures++;
    if (this.#passRetry !== undefined || !this.#started) return;
    const at = this.#d.clock.now() + exponentialDelayMs(this.#passFailures, DEFAULT_ERROR_BACKOFF);
    this.#passRetry = this.#d.clock.setTimer(at, () => {
      this.#passRetry = undefined;
      this.#queuePass();
    });
  }
}

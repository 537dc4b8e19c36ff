/**
 * Leader election over a `coordination.k8s.io/v1` Lease, with client-go's
 * algorithm and defaults (k8s.io/client-go/tools/leaderelection): every
 * replica serves CreateCertificate; only the leader runs the engine and the
 * trust distributors.
 *
 * - A candidate takes the Lease when it does not exist, is released (empty
 *   holder), or its record has not changed for `leaseDuration` as measured by
 *   the candidate's own clock since it last saw it change (so clock skew
 *   between replicas does not matter).
 * - The leader renews every `retryPeriod`; if it cannot renew for
 *   `renewDeadline` it steps down (onStoppedLeading) before its lease could
 *   expire for others (renewDeadline < leaseDuration), so two leaders never
 *   overlap while clocks run at the same rate.
 * - On stop the leader releases the Lease (empty holder, 1 s duration) so a
 *   successor takes over at its next retry instead of after the full lease.
 * - Writes are optimistic (resourceVersion): two candidates racing for an
 *   expired Lease cannot both win.
 */
import { LEASES, type Lease } from "../api/types.js";
import { isMeshsignError } from "../errors/index.js";
import type { Store } from "../store/types.js";

/** client-go defaults (leaderelection.LeaderElectionConfig, as kube-controller-manager uses them). */
export const DEFAULT_LEASE_DURATION_MS = 15_000;
export const DEFAULT_RENEW_DEADLINE_MS = 10_000;
export const DEFAULT_RETRY_PERIOD_MS = 2_000;
/** client-go's JitterFactor for the acquire loop. */
const JITTER_FACTOR = 1.2;

export interface LeaderElectionOptions {
  /** Where the Lease lives; in Kubernetes mode, the KubeStore. */
  readonly store: Store;
  readonly namespace: string;
  /** The Lease name, e.g. "meshsign-leader". */
  readonly name: string;
  /** This replica's unique identity, e.g. the pod name plus a random suffix. */
  readonly identity: string;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  /** Called when this replica becomes leader; `signal` aborts when it stops leading. */
  readonly onStartedLeading: (signal: AbortSignal) => void;
  /** Called once each time this replica stops leading (lost the Lease or stopped). */
  readonly onStoppedLeading: () => void;
  /** Called when the observed leader changes (including to this replica). */
  readonly onNewLeader?: (identity: string) => void;
  /** Lease API failures (they are retried; this is for logs). */
  readonly onError?: (err: unknown) => void;
  /** Milliseconds since the epoch; injected for tests. */
  readonly now?: () => number;
  /** Uniform [0, 1) for jitter; injected for tests. */
  readonly random?: () => number;
}

/** The validated timing: leaseDuration > renewDeadline > retryPeriod * JITTER_FACTOR (client-go's rule). */
function timing(options: LeaderElectionOptions): { lease: number; renew: number; retry: number } {
  const lease = options.leaseDurationMs ?? DEFAULT_LEASE_DURATION_MS;
  const renew = options.renewDeadlineMs ?? DEFAULT_RENEW_DEADLINE_MS;
  const retry = options.retryPeriodMs ?? DEFAULT_RETRY_PERIOD_MS;
  if (!(lease > renew)) throw new RangeError("leaseDuration must be greater than renewDeadline");
  if (!(renew > retry * JITTER_FACTOR))
    throw new RangeError("renewDeadline must be greater than retryPeriod*1.2");
  if (!(retry >= 1)) throw new RangeError("retryPeriod must be at least 1 ms");
  if (!options.identity) throw new RangeError("identity must not be empty");
  return { lease, renew, retry };
}

/** Runs one replica's candidacy until stop(). */
export class LeaderElector {
  readonly #opts: LeaderElectionOptions;
  readonly #t: { lease: number; renew: number; retry: number };
  readonly #now: () => number;
  readonly #random: () => number;
  #running: Promise<void> | undefined;
  #stopping = false;
  #wake: (() => void) | undefined;
  #leading: AbortController | undefined;
  /** The last Lease record seen and when (our clock) it last changed. */
  #observed: { spec: NonNullable<Lease["spec"]>; resourceVersion: string | undefined } | undefined;
  #observedAt = 0;
  #leader: string | undefined;

  constructor(options: LeaderElectionOptions) {
    this.#t = timing(options);
    this.#opts = options;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
  }

  /** Starts campaigning in the background (idempotent); after stop() it campaigns again. */
  start(): void {
    if (this.#running !== undefined) return;
    this.#stopping = false;
    this.#running = this.#run();
  }

  /** True while this replica holds the Lease. */
  isLeader(): boolean {
    return this.#leading !== undefined;
  }

  /** The identity of the last observed leader, if any. */
  leader(): string | undefined {
    return this.#leader;
  }

  /**
   * Stops campaigning; a leader steps down (onStoppedLeading) and, unless
   * `release` is false, releases the Lease so a successor need not wait.
   */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    this.#stopping = true;
    this.#wake?.();
    await this.#running;
    this.#running = undefined;
    if (this.#leading) {
      this.#stepDown();
      if (options.release ?? true) await this.#release();
    }
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      // Acquire: retry with jitter until we hold the Lease.
      const acquiredAt = this.#now();
      if (!(await this.#tryAcquireOrRenew())) {
        await this.#sleep(this.#t.retry * (1 + this.#random() * (JITTER_FACTOR - 1)));
        continue;
      }
      this.#leading = new AbortController();
      this.#opts.onStartedLeading(this.#leading.signal);
      // Renew: every retryPeriod; step down when no renewal succeeded for renewDeadline.
      // The deadline counts from when the last successful renewal was sent (the renewTime it
      // wrote), and an attempt still in flight at the deadline counts as failed: a request that
      // hangs must not keep this replica leading past the point where others take the Lease.
      let lastRenew = acquiredAt;
      while (!this.#stopping) {
        await this.#sleep(this.#t.retry);
        if (this.#stopping) return;
        const sentAt = this.#now();
        if (await this.#within(lastRenew + this.#t.renew - sentAt, this.#tryAcquireOrRenew())) {
          lastRenew = sentAt;
        } else if (
          this.#now() - lastRenew >= this.#t.renew ||
          (this.#leader && this.#leader !== this.#opts.identity)
        ) {
          // Out of time, or someone else holds the Lease now: stop working at once.
          this.#stepDown();
          break;
        }
      }
    }
  }

  /** The attempt's answer, or false when it has none within `ms` (the attempt is left to finish on its own). */
  async #within(ms: number, attempt: Promise<boolean>): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), Math.max(0, ms));
    });
    try {
      return await Promise.race([attempt, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  #stepDown(): void {
    const leading = this.#leading;
    if (!leading) return;
    this.#leading = undefined;
    leading.abort();
    this.#opts.onStoppedLeading();
  }

  /** One attempt to take or keep the Lease; false when another holds it or the write failed. */
  async #tryAcquireOrRenew(): Promise<boolean> {
    const { store, namespace, name, identity } = this.#opts;
    const now = this.#now();
    const leaseDurationSeconds = Math.ceil(this.#t.lease / 1000);
    try {
      const current = await store.get<Lease>(LEASES, namespace, name);
      if (!current) {
        const created = await store.create<Lease>(LEASES, {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name, namespace },
          spec: {
            holderIdentity: identity,
            leaseDurationSeconds,
            acquireTime: microTime(now),
            renewTime: microTime(now),
            leaseTransitions: 0,
          },
        });
        this.#observe(created, this.#now());
        return true;
      }
      this.#observe(current, now);
      const spec = current.spec ?? {};
      const holder = spec.holderIdentity ?? "";
      const held = holder !== "" && holder !== identity;
      const durationMs = (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
      if (held && this.#observedAt + durationMs > now) return false;

      const renewing = holder === identity;
      const updated = await store.update<Lease>(LEASES, {
        ...current,
        spec: {
          holderIdentity: identity,
          leaseDurationSeconds,
          acquireTime: renewing && spec.acquireTime ? spec.acquireTime : microTime(now),
          renewTime: microTime(now),
          leaseTransitions: (spec.leaseTransitions ?? 0) + (renewing ? 0 : 1),
        },
      });
      this.#observe(updated, this.#now());
      return true;
    } catch (err) {
      // A conflict means someone else wrote first; anything else is a failed round. Both retry.
      if (!isMeshsignError(err, "ERR_CONFLICT")) this.#opts.onError?.(err);
      return false;
    }
  }

  /** Records the Lease as seen; the observation time moves only when the record changed. */
  #observe(lease: Lease, at: number): void {
    const spec = lease.spec ?? {};
    const prev = this.#observed?.spec;
    const changed =
      !prev ||
      prev.holderIdentity !== spec.holderIdentity ||
      prev.renewTime !== spec.renewTime ||
      prev.leaseTransitions !== spec.leaseTransitions;
    this.#observed = { spec, resourceVersion: lease.metadata.resourceVersion };
    if (changed) this.#observedAt = at;
    const holder = spec.holderIdentity ?? "";
    if (holder !== "" && holder !== this.#leader) {
      this.#leader = holder;
      this.#opts.onNewLeader?.(holder);
    }
  }

  /** Hands the Lease back (client-go ReleaseOnCancel): empty holder, shortest duration. */
  async #release(): Promise<void> {
    const { store, namespace, name, identity } = this.#opts;
    try {
      const current = await store.get<Lease>(LEASES, namespace, name);
      if (!current || current.spec?.holderIdentity !== identity) return;
      const now = microTime(this.#now());
      await store.update<Lease>(LEASES, {
        ...current,
        spec: {
          ...current.spec,
          holderIdentity: "",
          leaseDurationSeconds: 1,
          renewTime: now,
          acquireTime: now,
        },
      });
    } catch (err) {
      this.#opts.onError?.(err);
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }
}

/** metav1.MicroTime's wire format: RFC 3339 with exactly six fractional digits. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

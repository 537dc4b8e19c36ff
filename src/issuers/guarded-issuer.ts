/**
 * A remote issuer (Vault) on the CreateCertificate hot path, guarded so that
 * an outage answers fast instead of piling requests up: istio-agent retries
 * UNAVAILABLE with back-off, while a call that hangs holds a sidecar's start
 * and a socket for as long as the remote end does (cert-manager #7097, #7741).
 *
 * - **Bounded in flight**: at most `maxInFlight` calls wait on the backend;
 *   the next is refused at once.
 * - **Per-call deadline**: a call that has not answered in `callTimeoutMs` is
 *   cancelled (its signal aborted) and refused.
 * - **Circuit breaker**: `failureThreshold` transient failures in a row open
 *   the circuit; while open every call is refused at once with a retry hint.
 *   After `openMs` one call is let through as a probe (half-open): its
 *   success closes the circuit, its failure opens it again.
 *
 * Only transient failures count (no answer, 5xx, sealed, deadline): a
 * refusal from the backend (a SAN the role forbids) or a certificate meshsign
 * refuses means the backend answered, and closes the circuit like a success.
 * Every refusal here is `ERR_ISSUER_UNAVAILABLE` (gRPC UNAVAILABLE).
 */
import { MeshsignError } from "../errors/index.js";
import type { Issuer, IssuerStatus, SignRequest, SignResult } from "./issuer.js";

export type CircuitState = "closed" | "open" | "half-open";

export interface GuardedIssuerOptions {
  /** Calls waiting on the backend at once; more are refused. */
  readonly maxInFlight?: number;
  /** Deadline of one call to the backend. */
  readonly callTimeoutMs?: number;
  /** Transient failures in a row that open the circuit. */
  readonly failureThreshold?: number;
  /** How long the circuit stays open before one probe is let through. */
  readonly openMs?: number;
  /** What the backend is, for messages ("Vault ClusterIssuer/vault"). */
  readonly describe?: string;
  readonly now?: () => number;
  /** Called on every state change (log line, metric). */
  readonly onStateChange?: (state: CircuitState, why: string) => void;
  /** Called on every call refused here (not by the backend), by cause. */
  readonly onRefused?: (cause: "circuit_open" | "in_flight_limit" | "deadline") => void;
}

export const GUARD_DEFAULTS = {
  maxInFlight: 256,
  callTimeoutMs: 5_000,
  failureThreshold: 5,
  openMs: 2_000,
} as const;

export class GuardedIssuer implements Issuer {
  readonly #inner: Issuer;
  readonly #o: Required<Omit<GuardedIssuerOptions, "onStateChange" | "onRefused">> &
    Pick<GuardedIssuerOptions, "onStateChange" | "onRefused">;
  #state: CircuitState = "closed";
  #failures = 0;
  #openUntil = 0;
  #probing = false;
  #inFlight = 0;

  constructor(inner: Issuer, options: GuardedIssuerOptions = {}) {
    this.#inner = inner;
    this.#o = {
      maxInFlight: options.maxInFlight ?? GUARD_DEFAULTS.maxInFlight,
      callTimeoutMs: options.callTimeoutMs ?? GUARD_DEFAULTS.callTimeoutMs,
      failureThreshold: options.failureThreshold ?? GUARD_DEFAULTS.failureThreshold,
      openMs: options.openMs ?? GUARD_DEFAULTS.openMs,
      describe: options.describe ?? `${inner.kind} issuer`,
      now: options.now ?? Date.now,
      onStateChange: options.onStateChange,
      onRefused: options.onRefused,
    };
  }

  get kind(): string {
    return this.#inner.kind;
  }

  /** The backend issuer (for its Ready status and statistics). */
  get inner(): Issuer {
    return this.#inner;
  }

  get state(): CircuitState {
    return this.#state;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  status(): IssuerStatus {
    return this.#inner.status();
  }

  async sign(request: SignRequest, signal?: AbortSignal): Promise<SignResult> {
    const now = this.#o.now();
    let probe = false;
    if (this.#state !== "closed") {
      if (this.#state === "open" && now >= this.#openUntil)
        this.#set("half-open", "probing the backend once");
      if (this.#state === "open" || this.#probing) {
        this.#o.onRefused?.("circuit_open");
        const retryAfterMs = Math.max(0, this.#openUntil - now);
        throw new MeshsignError(
          "ERR_ISSUER_UNAVAILABLE",
          `${this.#o.describe} is failing (${this.#failures} failures in a row); not calling it for now, retry later`,
          {
            retry: "transient",
            detail: { requestId: request.requestId, circuit: this.#state, retryAfterMs },
          },
        );
      }
      probe = true;
      this.#probing = true;
    }
    if (this.#inFlight >= this.#o.maxInFlight) {
      if (probe) this.#probing = false;
      this.#o.onRefused?.("in_flight_limit");
      throw new MeshsignError(
        "ERR_ISSUER_UNAVAILABLE",
        `${this.#o.describe} has ${this.#inFlight} calls waiting already; retry later`,
        {
          retry: "transient",
          detail: { requestId: request.requestId, inFlight: this.#inFlight },
        },
      );
    }
    this.#inFlight++;
    const deadline = new AbortController();
    const onAbort = (): void => deadline.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        deadline.abort();
        this.#o.onRefused?.("deadline");
        reject(
          new MeshsignError(
            "ERR_ISSUER_UNAVAILABLE",
            `${this.#o.describe} did not answer within ${this.#o.callTimeoutMs} ms`,
            {
              retry: "transient",
              detail: { requestId: request.requestId },
            },
          ),
        );
      }, this.#o.callTimeoutMs);
    });
    try {
      const result = await Promise.race([this.#inner.sign(request, deadline.signal), expired]);
      this.#succeeded();
      return result;
    } catch (err) {
      if (err instanceof MeshsignError && err.retry === "transient") this.#failed(err.message);
      else this.#succeeded();
      throw err;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      this.#inFlight--;
      if (probe) this.#probing = false;
    }
  }

  #succeeded(): void {
    this.#failures = 0;
    if (this.#state !== "closed") this.#set("closed", "the backend answered");
  }

  #failed(why: string): void {
    this.#failures++;
    if (
      this.#state === "half-open" ||
      (this.#state === "closed" && this.#failures >= this.#o.failureThreshold)
    ) {
      this.#openUntil = this.#o.now() + this.#o.openMs;
      this.#set("open", why);
    }
  }

  #set(state: CircuitState, why: string): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#o.onStateChange?.(state, why);
  }
}

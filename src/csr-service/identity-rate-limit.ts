import { MeshsignError } from "../errors/index.js";
import type { CsrPolicy } from "./handler.js";

/**
 * A token bucket per SPIFFE identity: each identity may get `burst`
 * certificates at once, then `ratePerSecond` sustained. Applied after the CSR
 * policy has decided which identity the certificate is for (the impersonated
 * one for ztunnel, so one node agent is not throttled for all its pods), so
 * one misbehaving workload identity cannot take the CA from the others.
 *
 * Per process: each worker keeps its own buckets (a process-wide limit would
 * need shared state for a check that must stay cheap); the effective limit is
 * up to workers x the configured one.
 */
export interface IdentityRateLimits {
  readonly ratePerSecond: number;
  readonly burst: number;
}

/** Buckets kept before full (idle) ones are dropped; only authenticated identities get one. */
const MAX_TRACKED = 65_536;

export class IdentityRateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly limits: IdentityRateLimits,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Takes one token for `identity`; returns 0 when granted, else milliseconds until one is available. */
  take(identity: string): number {
    const now = this.clock();
    const { ratePerSecond, burst } = this.limits;
    let bucket = this.#buckets.get(identity);
    if (!bucket) {
      if (this.#buckets.size >= MAX_TRACKED) this.#dropFull(now);
      bucket = { tokens: burst, at: now };
      this.#buckets.set(identity, bucket);
    } else {
      // A wall clock that stepped back (NTP) refills nothing; a negative span would drain the bucket
      // for as long as the step, refusing the identity for that long.
      const elapsedMs = Math.max(0, now - bucket.at);
      bucket.tokens = Math.min(burst, bucket.tokens + (elapsedMs / 1000) * ratePerSecond);
      bucket.at = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - bucket.tokens) / ratePerSecond) * 1000);
  }

  /** Buckets that have refilled are the same as none. */
  #dropFull(now: number): void {
    const { ratePerSecond, burst } = this.limits;
    for (const [identity, b] of this.#buckets) {
      if (b.tokens + ((now - b.at) / 1000) * ratePerSecond >= burst) this.#buckets.delete(identity);
    }
  }
}

/** `policy`, then one token of the identity it authorized; refuses ERR_RATE_LIMITED with a retry hint. */
export function rateLimitedPolicy(policy: CsrPolicy, limiter: IdentityRateLimiter): CsrPolicy {
  return async (input) => {
    const authorized = await policy(input);
    const retryAfterMs = limiter.take(authorized.identity);
    if (retryAfterMs > 0) {
      throw new MeshsignError(
        "ERR_RATE_LIMITED",
        `too many certificates for ${authorized.identity} in a short time; retry after ${retryAfterMs} ms`,
        { retry: "transient", detail: { identity: authorized.identity, retryAfterMs } },
      );
    }
    return authorized;
  };
}

/**
 * Retry schedules, by error class (reference section 4 and pain points 5-6):
 *
 * - issuance rejected (a CertificateRequest Failed or Denied, or the issuer
 *   returned an unusable certificate): cert-manager's schedule,
 *   min x 2^(failedIssuanceAttempts-1) capped at max (1h doubling to 32h);
 * - transient (issuer unreachable, store conflict): seconds to minutes,
 *   exponential per object, without failing the request.
 */

export interface BackoffOptions {
  readonly minMs: number;
  readonly maxMs: number;
}

/** cert-manager's `--certificate-request-minimum/maximum-backoff-duration` defaults. */
export const DEFAULT_ISSUANCE_BACKOFF: BackoffOptions = { minMs: 3_600_000, maxMs: 32 * 3_600_000 };

/** Transient failures: 5 s doubling to 5 min. */
export const DEFAULT_TRANSIENT_BACKOFF: BackoffOptions = { minMs: 5_000, maxMs: 300_000 };

/** Delay after the n-th consecutive failure (n >= 1; n <= 0 means the minimum). */
export function exponentialDelayMs(failures: number, options: BackoffOptions): number {
  const n = Number.isFinite(failures) && failures > 1 ? Math.floor(failures) - 1 : 0;
  // 2^n overflows nothing that matters: the cap applies long before.
  const delay = options.minMs * 2 ** Math.min(n, 40);
  return Math.min(delay, options.maxMs);
}

/**
 * The earliest time a new issuance may start after a rejection, or undefined
 * when there is no failure on record.
 */
export function nextIssuanceAttemptMs(
  lastFailureTimeMs: number | undefined,
  failedIssuanceAttempts: number | undefined,
  options: BackoffOptions = DEFAULT_ISSUANCE_BACKOFF,
): number | undefined {
  if (lastFailureTimeMs === undefined) return undefined;
  return lastFailureTimeMs + exponentialDelayMs(failedIssuanceAttempts ?? 0, options);
}

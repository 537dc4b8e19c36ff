/**
 * When to renew a certificate: cert-manager's formula
 * (`pkg/util/pki/renewaltime.go`), computed from the certificate actually
 * issued, not from spec.duration.
 *
 *   lifetime     = notAfter - notBefore
 *   renewBefore' = renewBefore              if 0 < renewBefore < lifetime
 *                = lifetime * pct / 100     elif 0 < renewBeforePercentage < 100
 *                = lifetime / 3             otherwise
 *   renewalTime  = truncateToSecond(notAfter - renewBefore')
 */

export interface RenewalInput {
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  readonly renewBeforeMs?: number | undefined;
  readonly renewBeforePercentage?: number | undefined;
  /** `spec.renewal.policy: Disabled`: never renew automatically. */
  readonly disabled?: boolean;
}

/** The effective renew-before window in milliseconds. */
export function renewBeforeWindowMs(input: RenewalInput): number {
  const lifetime = input.notAfterMs - input.notBeforeMs;
  const rb = input.renewBeforeMs;
  if (rb !== undefined && rb > 0 && rb < lifetime) return rb;
  const pct = input.renewBeforePercentage;
  if (pct !== undefined && pct > 0 && pct < 100) return Math.trunc((lifetime * pct) / 100);
  return Math.trunc(lifetime / 3);
}

/** Renewal instant in epoch milliseconds (whole seconds), or undefined when renewal is disabled. */
export function renewalTime(input: RenewalInput): number | undefined {
  if (input.disabled === true) return undefined;
  const desired = input.notAfterMs - renewBeforeWindowMs(input);
  return Math.floor(desired / 1000) * 1000;
}

/**
 * Spreads renewals of certificates issued together (cert-manager issue #8402):
 * a delay after the renewal time in [0, 5 % of the renew-before window),
 * capped at one hour, so a renewal never slips past the window's first 5 %.
 * `fraction` comes from the injected random source.
 */
export function renewalJitterMs(input: RenewalInput, fraction: number): number {
  const window = renewBeforeWindowMs(input);
  const span = Math.min(window * 0.05, 3_600_000);
  return Math.floor(Math.min(Math.max(fraction, 0), 0.999999) * span);
}

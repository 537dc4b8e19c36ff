/**
 * `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. Returns
 * milliseconds from `now`, or undefined when absent or unreadable.
 */
export function retryAfterMs(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d{1,9}$/.test(v)) return Number(v) * 1000;
  // Only an HTTP-date (IMF-fixdate or an obsolete form naming GMT); Date.parse alone would read "-5" as a year.
  if (!/^[A-Za-z]{3},? .*GMT$|^[A-Za-z]+, .*GMT$/.test(v)) return undefined;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

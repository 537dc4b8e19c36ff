/**
 * The longest delay a Node.js timer holds: 2^31-1 ms, about 24.8 days. `setTimeout` with a longer
 * one fires after 1 ms (with a TimeoutOverflowWarning), so a configured duration or a client's
 * deadline longer than this (`--grpc-max-connection-age 720h`, grpc-go's 30-day `2592000S`) would
 * act at once. Capped, it acts after 24.8 days, which for a connection limit or a unary call's
 * deadline is as good as never; grpc-js reads this value as "unlimited" too.
 */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** `ms` capped at {@link MAX_TIMER_DELAY_MS}, for `setTimeout`. */
export function timerDelay(ms: number): number {
  return Math.min(ms, MAX_TIMER_DELAY_MS);
}

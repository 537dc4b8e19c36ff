/** Milliseconds per unit of a `grpc-timeout` value (gRPC over HTTP/2, "Timeout"). */
const UNIT_MS: Readonly<Record<string, number>> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 0.001,
  n: 0.000_001,
};

/** At most 8 ASCII digits and one unit, as the protocol spells it. */
const GRPC_TIMEOUT = /^(\d{1,8})([HMSmun])$/;

/**
 * A `grpc-timeout` header value in milliseconds (rounded up, so a sub-millisecond
 * deadline is still a deadline), or undefined when it is not one.
 */
export function parseGrpcTimeout(value: string): number | undefined {
  const m = GRPC_TIMEOUT.exec(value);
  if (m === null) return undefined;
  return Math.ceil(Number(m[1]) * (UNIT_MS[m[2] as string] as number));
}

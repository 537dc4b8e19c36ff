/**
 * Whether a request's `content-type` is gRPC's: `application/grpc`, optionally
 * followed by `+<format>` or `;<params>` (gRPC over HTTP/2, "Content-Type").
 * grpc-js accepts any value that starts with `application/grpc`, which also
 * admits `application/grpc-web`; this port does not speak gRPC-Web.
 */
export function isGrpcContentType(value: unknown): boolean {
  if (typeof value !== "string" || !value.startsWith("application/grpc")) return false;
  const next = value.charCodeAt(16);
  // End of string, "+" or ";".
  return Number.isNaN(next) || next === 0x2b || next === 0x3b;
}

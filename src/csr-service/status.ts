import { status as GrpcStatus, Metadata } from "@grpc/grpc-js";
import type { ErrorCode } from "../errors/index.js";
import { type MeshsignError, toMeshsignError } from "../errors/index.js";

/**
 * The one place a MeshsignError becomes a gRPC status.
 *
 * Authentication and authorization failures are UNAUTHENTICATED so istio-agent
 * does not hot-retry them (its retry interceptor skips that code); malformed
 * requests are INVALID_ARGUMENT; backend trouble is UNAVAILABLE when it may
 * pass and INTERNAL otherwise. The message names the rule that failed and is
 * safe to show: it never carries tokens, keys or internals (those go to the log
 * through `cause`/`detail`).
 */
const BY_CODE: Partial<Record<ErrorCode, GrpcStatus>> = {
  // grpc-go (istiod) answers INTERNAL for an undecodable message, which istio-agent retries five
  // times; the same bytes cannot decode on a retry, so meshsign says INVALID_ARGUMENT.
  ERR_REQUEST_MALFORMED: GrpcStatus.INVALID_ARGUMENT,
  ERR_CSR_MISSING: GrpcStatus.INVALID_ARGUMENT,
  ERR_CSR_TOO_LARGE: GrpcStatus.INVALID_ARGUMENT,
  ERR_CSR_PEM: GrpcStatus.INVALID_ARGUMENT,
  ERR_CSR_DER: GrpcStatus.INVALID_ARGUMENT,
  ERR_CSR_KEY_UNSUPPORTED: GrpcStatus.INVALID_ARGUMENT,
  // Proof of possession failed: istiod answers InvalidArgument for any CSRError.
  ERR_CSR_SIGNATURE: GrpcStatus.INVALID_ARGUMENT,
  ERR_CSR_KEY_WEAK: GrpcStatus.INVALID_ARGUMENT,
  ERR_DURATION_INVALID: GrpcStatus.INVALID_ARGUMENT,
  ERR_METADATA_INVALID: GrpcStatus.INVALID_ARGUMENT,
  ERR_ISSUER_NOT_FOUND: GrpcStatus.INTERNAL,
  ERR_ISSUER_NOT_READY: GrpcStatus.INTERNAL,
  ERR_ISSUER_UNAVAILABLE: GrpcStatus.UNAVAILABLE,
  ERR_ISSUER_PENDING: GrpcStatus.UNAVAILABLE,
  ERR_ISSUER_REJECTED: GrpcStatus.INTERNAL,
  ERR_SIGNING_FAILED: GrpcStatus.INTERNAL,
  ERR_CHAIN_INVALID: GrpcStatus.INTERNAL,
  // Engine and store errors reach clients through the admin API (e.g. `meshsign status ns/missing`).
  ERR_RESOURCE_INVALID: GrpcStatus.INVALID_ARGUMENT,
  ERR_NOT_FOUND: GrpcStatus.NOT_FOUND,
  ERR_CONFLICT: GrpcStatus.ABORTED,
  ERR_ALREADY_EXISTS: GrpcStatus.ALREADY_EXISTS,
  ERR_STORE_UNAVAILABLE: GrpcStatus.UNAVAILABLE,
  ERR_AUTHN_BACKEND_UNAVAILABLE: GrpcStatus.UNAVAILABLE,
  ERR_INTERNAL: GrpcStatus.INTERNAL,
  // Load shedding: istio-agent retries RESOURCE_EXHAUSTED with back-off (CARetryOptions).
  ERR_OVERLOADED: GrpcStatus.RESOURCE_EXHAUSTED,
  ERR_RATE_LIMITED: GrpcStatus.RESOURCE_EXHAUSTED,
};

/** Codes of the caller's identity or what it asks for: a proof problem, never retried. */
const UNAUTHENTICATED_PREFIXES = ["ERR_TOKEN_", "ERR_CLIENT_CERT_", "ERR_CSR_SAN_", "ERR_CSR_EXT"] as const;
const UNAUTHENTICATED_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  "ERR_UNAUTHENTICATED",
  "ERR_CLUSTER_ID_MISMATCH",
  "ERR_CSR_SUBJECT_FORBIDDEN",
  "ERR_CSR_KEY_USAGE_FORBIDDEN",
  "ERR_CSR_CA_FORBIDDEN",
  "ERR_SPIFFE_ID_INVALID",
  "ERR_IMPERSONATION_DENIED",
]);

export interface GrpcError {
  readonly code: GrpcStatus;
  readonly details: string;
}

export function grpcStatusOf(err: MeshsignError): GrpcStatus {
  const direct = BY_CODE[err.code];
  if (direct !== undefined) return direct;
  if (UNAUTHENTICATED_CODES.has(err.code) || UNAUTHENTICATED_PREFIXES.some((p) => err.code.startsWith(p))) {
    return GrpcStatus.UNAUTHENTICATED;
  }
  return err.retry === "transient" ? GrpcStatus.UNAVAILABLE : GrpcStatus.INTERNAL;
}

/**
 * Trailer metadata of a refusal that carries a retry hint (`detail.retryAfterMs`):
 * `grpc-retry-pushback-ms`, gRPC's server pushback (gRFC A6), which grpc-go,
 * grpc-java and grpc-js clients with a retry policy wait for before retrying.
 * istio-agent's own retry interceptor does not read it (it backs off from
 * 100 ms itself), so the message says it too.
 */
export function retryPushback(error: MeshsignError): Metadata | undefined {
  const ms = error.detail.retryAfterMs;
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) return undefined;
  const md = new Metadata();
  md.set("grpc-retry-pushback-ms", String(Math.ceil(ms)));
  return md;
}

/** Maps anything thrown by the handler to the status sent to the client. */
export function toGrpcError(thrown: unknown): GrpcError & { error: MeshsignError } {
  const error = toMeshsignError(thrown);
  const code = grpcStatusOf(error);
  return { code, details: `${error.message} (${error.code})`, error };
}

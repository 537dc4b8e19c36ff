/**
 * meshsign's one error type. Every failure that can reach a client, a log line
 * or a Kubernetes condition is a {@link MeshsignError} with a stable `code`.
 *
 * - `message` is safe to show to a client: it names the rule that failed and
 *   never contains key material, tokens or internals.
 * - `detail` and `cause` carry what only the log may see.
 * - `retry` says whether the failure is transient (worth retrying with
 *   back-off) or terminal (the same input will fail again).
 *
 * This module is the innermost ring of the codebase: it imports nothing.
 * Mapping a code to a gRPC status happens only in `src/csr-service/status.ts`;
 * mapping to a Kubernetes condition reason only in `src/engine/reasons.ts`.
 */

/** Every error code meshsign raises, grouped by the layer that raises it. */
export type ErrorCode =
  // Request shape (malformed input from a client)
  | "ERR_REQUEST_MALFORMED"
  | "ERR_CSR_MISSING"
  | "ERR_CSR_TOO_LARGE"
  | "ERR_CSR_PEM"
  | "ERR_CSR_DER"
  | "ERR_CSR_SIGNATURE"
  | "ERR_CSR_KEY_UNSUPPORTED"
  | "ERR_CSR_KEY_WEAK"
  | "ERR_DURATION_INVALID"
  | "ERR_METADATA_INVALID"
  // Authentication (who is calling)
  | "ERR_TOKEN_MISSING"
  | "ERR_TOKEN_MALFORMED"
  | "ERR_TOKEN_SIGNATURE"
  | "ERR_TOKEN_ALGORITHM"
  | "ERR_TOKEN_EXPIRED"
  | "ERR_TOKEN_NOT_YET_VALID"
  | "ERR_TOKEN_ISSUER"
  | "ERR_TOKEN_AUDIENCE"
  | "ERR_TOKEN_CLAIMS"
  | "ERR_TOKEN_KID_UNKNOWN"
  | "ERR_TOKEN_REJECTED"
  | "ERR_CLUSTER_ID_MISMATCH"
  | "ERR_CLIENT_CERT_INVALID"
  | "ERR_UNAUTHENTICATED"
  | "ERR_AUTHN_BACKEND_UNAVAILABLE"
  // Authorization (what the caller may get)
  | "ERR_CSR_SAN_MISMATCH"
  | "ERR_CSR_SAN_FORBIDDEN"
  | "ERR_CSR_SUBJECT_FORBIDDEN"
  | "ERR_CSR_EXTENSION_FORBIDDEN"
  | "ERR_CSR_KEY_USAGE_FORBIDDEN"
  | "ERR_CSR_EXT_KEY_USAGE_FORBIDDEN"
  | "ERR_CSR_CA_FORBIDDEN"
  | "ERR_SPIFFE_ID_INVALID"
  | "ERR_IMPERSONATION_DENIED"
  // Issuers and signing
  | "ERR_ISSUER_NOT_FOUND"
  | "ERR_ISSUER_NOT_READY"
  | "ERR_ISSUER_UNAVAILABLE"
  | "ERR_ISSUER_REJECTED"
  | "ERR_ISSUER_PENDING"
  | "ERR_SIGNING_FAILED"
  | "ERR_CHAIN_INVALID"
  | "ERR_CERT_INVALID"
  | "ERR_KEY_INVALID"
  // ACME client (src/acme)
  | "ERR_ACME_PROBLEM"
  | "ERR_ACME_PROTOCOL"
  | "ERR_ACME_UNAVAILABLE"
  | "ERR_ACME_ORDER_INVALID"
  /** The CSR's names cannot be an ACME order's identifiers (cert-manager's InvalidOrder). */
  | "ERR_ACME_IDENTIFIERS_INVALID"
  | "ERR_ACME_TIMEOUT"
  | "ERR_ACME_SELF_CHECK"
  // DNS-01 providers and propagation (src/acme/solvers/dns01)
  | "ERR_DNS01_UNSUPPORTED"
  | "ERR_DNS01_REFUSED"
  | "ERR_DNS01_UNAVAILABLE"
  | "ERR_DNS01_NOT_PROPAGATED"
  // Engine and store
  | "ERR_RESOURCE_INVALID"
  | "ERR_NOT_FOUND"
  | "ERR_CONFLICT"
  | "ERR_ALREADY_EXISTS"
  | "ERR_STORE_UNAVAILABLE"
  // Configuration and process
  | "ERR_CONFIG_INVALID"
  | "ERR_DEV_ISSUER_DISABLED"
  | "ERR_INTERNAL"
  // Admission control (load shedding on CreateCertificate)
  | "ERR_OVERLOADED"
  | "ERR_RATE_LIMITED";

/** Whether repeating the same operation later may succeed. */
export type Retry = "transient" | "terminal";

export interface MeshsignErrorOptions {
  /** Extra structured context for logs. Never put secrets here either. */
  readonly detail?: Readonly<Record<string, unknown>>;
  readonly cause?: unknown;
  /** Defaults to "terminal". */
  readonly retry?: Retry;
}

export class MeshsignError extends Error {
  override readonly name = "MeshsignError";
  readonly code: ErrorCode;
  readonly detail: Readonly<Record<string, unknown>>;
  readonly retry: Retry;

  constructor(code: ErrorCode, message: string, options: MeshsignErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.detail = options.detail ?? {};
    this.retry = options.retry ?? "terminal";
  }
}

/** True when `err` is a {@link MeshsignError}, optionally with one of `codes`. */
export function isMeshsignError(err: unknown, ...codes: ErrorCode[]): err is MeshsignError {
  return err instanceof MeshsignError && (codes.length === 0 || codes.includes(err.code));
}

/** Wraps anything thrown into a MeshsignError without exposing its message to clients. */
export function toMeshsignError(err: unknown, fallback: ErrorCode = "ERR_INTERNAL"): MeshsignError {
  if (err instanceof MeshsignError) return err;
  return new MeshsignError(fallback, "internal error", { cause: err });
}

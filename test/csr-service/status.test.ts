import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { grpcStatusOf, toGrpcError } from "../../src/csr-service/status.js";
import { type ErrorCode, MeshsignError } from "../../src/errors/index.js";

/*
 * The one error-code -> gRPC status table. Written out code by code so that a
 * new ErrorCode fails the typecheck here until someone decides what a client
 * sees for it.
 */
const EXPECTED = {
  // Malformed requests: the caller must fix the request.
  ERR_CSR_MISSING: status.INVALID_ARGUMENT,
  ERR_CSR_TOO_LARGE: status.INVALID_ARGUMENT,
  ERR_CSR_PEM: status.INVALID_ARGUMENT,
  ERR_CSR_DER: status.INVALID_ARGUMENT,
  ERR_CSR_SIGNATURE: status.INVALID_ARGUMENT,
  ERR_CSR_KEY_UNSUPPORTED: status.INVALID_ARGUMENT,
  ERR_CSR_KEY_WEAK: status.INVALID_ARGUMENT,
  ERR_DURATION_INVALID: status.INVALID_ARGUMENT,
  ERR_METADATA_INVALID: status.INVALID_ARGUMENT,
  ERR_REQUEST_MALFORMED: status.INVALID_ARGUMENT,
  // Authentication: UNAUTHENTICATED, which istio-agent does not hot-retry.
  ERR_TOKEN_MISSING: status.UNAUTHENTICATED,
  ERR_TOKEN_MALFORMED: status.UNAUTHENTICATED,
  ERR_TOKEN_SIGNATURE: status.UNAUTHENTICATED,
  ERR_TOKEN_ALGORITHM: status.UNAUTHENTICATED,
  ERR_TOKEN_EXPIRED: status.UNAUTHENTICATED,
  ERR_TOKEN_NOT_YET_VALID: status.UNAUTHENTICATED,
  ERR_TOKEN_ISSUER: status.UNAUTHENTICATED,
  ERR_TOKEN_AUDIENCE: status.UNAUTHENTICATED,
  ERR_TOKEN_CLAIMS: status.UNAUTHENTICATED,
  ERR_TOKEN_KID_UNKNOWN: status.UNAUTHENTICATED,
  ERR_TOKEN_REJECTED: status.UNAUTHENTICATED,
  ERR_CLUSTER_ID_MISMATCH: status.UNAUTHENTICATED,
  ERR_CLIENT_CERT_INVALID: status.UNAUTHENTICATED,
  ERR_UNAUTHENTICATED: status.UNAUTHENTICATED,
  // A token backend (JWKS endpoint, TokenReview) that is down: come back later.
  ERR_AUTHN_BACKEND_UNAVAILABLE: status.UNAVAILABLE,
  // Authorization: also UNAUTHENTICATED, as istio-csr answers.
  ERR_CSR_SAN_MISMATCH: status.UNAUTHENTICATED,
  ERR_CSR_SAN_FORBIDDEN: status.UNAUTHENTICATED,
  ERR_CSR_SUBJECT_FORBIDDEN: status.UNAUTHENTICATED,
  ERR_CSR_EXTENSION_FORBIDDEN: status.UNAUTHENTICATED,
  ERR_CSR_KEY_USAGE_FORBIDDEN: status.UNAUTHENTICATED,
  ERR_CSR_EXT_KEY_USAGE_FORBIDDEN: status.UNAUTHENTICATED,
  ERR_CSR_CA_FORBIDDEN: status.UNAUTHENTICATED,
  ERR_SPIFFE_ID_INVALID: status.UNAUTHENTICATED,
  ERR_IMPERSONATION_DENIED: status.UNAUTHENTICATED,
  // Issuer trouble: UNAVAILABLE when it may pass, INTERNAL otherwise.
  ERR_ISSUER_NOT_FOUND: status.INTERNAL,
  ERR_ISSUER_NOT_READY: status.INTERNAL,
  ERR_ISSUER_UNAVAILABLE: status.UNAVAILABLE,
  ERR_ISSUER_REJECTED: status.INTERNAL,
  ERR_ISSUER_PENDING: status.UNAVAILABLE,
  ERR_SIGNING_FAILED: status.INTERNAL,
  ERR_CHAIN_INVALID: status.INTERNAL,
  ERR_CERT_INVALID: status.INTERNAL,
  ERR_KEY_INVALID: status.INTERNAL,
  // The ACME client: ACME issuers are refused for CreateCertificate, so these only reach it as internal.
  ERR_ACME_PROBLEM: status.INTERNAL,
  ERR_ACME_PROTOCOL: status.INTERNAL,
  ERR_ACME_UNAVAILABLE: status.INTERNAL,
  ERR_ACME_ORDER_INVALID: status.INTERNAL,
  ERR_ACME_IDENTIFIERS_INVALID: status.INTERNAL,
  ERR_ACME_TIMEOUT: status.INTERNAL,
  ERR_ACME_SELF_CHECK: status.INTERNAL,
  ERR_DNS01_UNSUPPORTED: status.INTERNAL,
  ERR_DNS01_REFUSED: status.INTERNAL,
  ERR_DNS01_UNAVAILABLE: status.INTERNAL,
  ERR_DNS01_NOT_PROPAGATED: status.INTERNAL,
  // Engine and store, reached through the admin API.
  ERR_RESOURCE_INVALID: status.INVALID_ARGUMENT,
  ERR_NOT_FOUND: status.NOT_FOUND,
  ERR_CONFLICT: status.ABORTED,
  ERR_ALREADY_EXISTS: status.ALREADY_EXISTS,
  ERR_STORE_UNAVAILABLE: status.UNAVAILABLE,
  // Configuration and process.
  ERR_CONFIG_INVALID: status.INTERNAL,
  ERR_DEV_ISSUER_DISABLED: status.INTERNAL,
  ERR_INTERNAL: status.INTERNAL,
  // Admission control: istio-agent retries these with back-off.
  ERR_OVERLOADED: status.RESOURCE_EXHAUSTED,
  ERR_RATE_LIMITED: status.RESOURCE_EXHAUSTED,
} as const satisfies Record<ErrorCode, status>;

const TABLE = (Object.entries(EXPECTED) as [ErrorCode, status][]).map(([code, grpc]) => ({
  code,
  grpc,
  name: status[grpc],
}));

describe("grpcStatusOf", () => {
  it.each(TABLE)("maps $code to $name", ({ code, grpc }) => {
    expect(status[grpcStatusOf(new MeshsignError(code, "x"))]).toBe(status[grpc]);
  });

  it.each(TABLE.filter((r) => r.grpc === status.UNAUTHENTICATED))(
    "keeps $code UNAUTHENTICATED even when marked transient (agents must not hot-retry a bad credential)",
    ({ code }) => {
      expect(grpcStatusOf(new MeshsignError(code, "x", { retry: "transient" }))).toBe(status.UNAUTHENTICATED);
    },
  );

  it("answers UNAVAILABLE for a transient error whose code has no fixed status", () => {
    expect(grpcStatusOf(new MeshsignError("ERR_CERT_INVALID", "x", { retry: "transient" }))).toBe(
      status.UNAVAILABLE,
    );
  });
});

describe("toGrpcError", () => {
  it("sends the safe message and names the code", () => {
    const e = toGrpcError(new MeshsignError("ERR_TOKEN_EXPIRED", "token expired", { detail: { exp: 1 } }));
    expect(e).toMatchObject({ code: status.UNAUTHENTICATED, details: "token expired (ERR_TOKEN_EXPIRED)" });
  });

  it("never shows what a non-meshsign error says: it may hold internals", () => {
    const e = toGrpcError(new Error("ENOENT: /var/lib/meshsign/root-key.pem -----BEGIN PRIVATE KEY-----"));
    expect(e.code).toBe(status.INTERNAL);
    expect(e.details).toBe("internal error (ERR_INTERNAL)");
    expect(e.error.cause).toBeInstanceOf(Error);
  });

  it.each([
    { name: "a string", thrown: "boom" },
    { name: "undefined", thrown: undefined },
    { name: "an object", thrown: { code: 16, details: "forged" } },
  ])("turns $name into INTERNAL", ({ thrown }) => {
    expect(toGrpcError(thrown)).toMatchObject({
      code: status.INTERNAL,
      details: "internal error (ERR_INTERNAL)",
    });
  });
});

/**
 * Condition reasons, and the one place where an error becomes a reason
 * (STYLE.md principle 3). Names are cert-manager's, so dashboards, alerts and
 * `kubectl get` output keep working.
 */
import { type MeshsignError, toMeshsignError } from "../errors/index.js";

/** Certificate Ready / Issuing reasons (cert-manager `policies/constants.go` and friends). */
export const REASON = {
  ready: "Ready",
  doesNotExist: "DoesNotExist",
  missingData: "MissingData",
  invalidKeyPair: "InvalidKeyPair",
  invalidCertificate: "InvalidCertificate",
  incorrectIssuer: "IncorrectIssuer",
  incorrectCertificate: "IncorrectCertificate",
  secretMismatch: "SecretMismatch",
  invalidCertificateRequest: "InvalidCertificateRequest",
  requestChanged: "RequestChanged",
  renewing: "Renewing",
  expired: "Expired",
  manuallyTriggered: "ManuallyTriggered",
  issued: "Issued",
  failed: "Failed",
  /** Issuing=False while cert-manager's rotationPolicy Never cannot reuse the key. */
  cannotRegenerateKey: "CannotRegenerateKey",
  /** Warning Event while an automatic re-issuance waits for the per-Certificate limit (meshsign only). */
  reissueLimited: "ReissueLimited",
  /** Ready=False for a Certificate that shares its secretName and is not the owner. */
  conflict: "Conflict",
  /** Ready=False for a Certificate asking for something the engine does not implement (lib/unsupported.ts). */
  unsupportedSpec: "UnsupportedSpec",
} as const;

/** CertificateRequest condition reasons. */
export const CR_REASON = {
  pending: "Pending",
  issued: "Issued",
  failed: "Failed",
  denied: "Denied",
  approved: "cert-manager.io",
  issuerNotFound: "IssuerNotFound",
  issuerNotReady: "IssuerNotReady",
  issuerTypeMissing: "IssuerTypeMissing",
  signingError: "SigningError",
  decodeError: "DecodeError",
  requestParsingError: "RequestParsingError",
  orderFailed: "OrderFailed",
  invalidOrder: "InvalidOrder",
} as const;

/** How a failed signing attempt leaves the CertificateRequest. */
export interface SignOutcome {
  /** `pending`: the request stays Pending and is retried soon (transient); `failed`: terminal. */
  readonly state: "pending" | "failed";
  /** Reason on the request's Ready condition (and in the Warning event). */
  readonly reason: string;
  /** Safe to show: MeshsignError messages never carry secrets. */
  readonly message: string;
  readonly error: MeshsignError;
}

const PENDING_REASONS: Partial<Record<MeshsignError["code"], string>> = {
  ERR_ISSUER_NOT_FOUND: CR_REASON.issuerNotFound,
  ERR_ISSUER_NOT_READY: CR_REASON.issuerNotReady,
  ERR_ISSUER_UNAVAILABLE: "IssuerUnavailable",
  ERR_ISSUER_PENDING: "Pending",
  ERR_STORE_UNAVAILABLE: "StoreUnavailable",
  ERR_CONFLICT: "Conflict",
};

const FAILED_REASONS: Partial<Record<MeshsignError["code"], string>> = {
  ERR_ISSUER_REJECTED: CR_REASON.signingError,
  ERR_SIGNING_FAILED: CR_REASON.signingError,
  ERR_CHAIN_INVALID: CR_REASON.decodeError,
  ERR_CSR_PEM: CR_REASON.requestParsingError,
  ERR_CSR_DER: CR_REASON.requestParsingError,
  ERR_CSR_SIGNATURE: CR_REASON.requestParsingError,
  ERR_RESOURCE_INVALID: CR_REASON.requestParsingError,
  // cert-manager's ACME request reasons (certificaterequests/acme): the Order failed, or the CSR
  // cannot be ordered (a common name that is not among its names).
  ERR_ACME_ORDER_INVALID: CR_REASON.orderFailed,
  ERR_ACME_IDENTIFIERS_INVALID: CR_REASON.invalidOrder,
};

/**
 * Classifies an issuer's rejection. Transient errors keep the request Pending
 * (cert-manager fails it and backs off for an hour, pain point 6); terminal
 * ones fail it and start the 1h..32h issuance back-off.
 */
export function classifySignError(err: unknown): SignOutcome {
  const e = toMeshsignError(err, "ERR_SIGNING_FAILED");
  // Not-found / not-ready issuers are a waiting state in cert-manager too (Pending IssuerNotFound/IssuerNotReady).
  if (e.retry === "transient" || e.code === "ERR_ISSUER_NOT_FOUND" || e.code === "ERR_ISSUER_NOT_READY") {
    return { state: "pending", reason: PENDING_REASONS[e.code] ?? "Retrying", message: e.message, error: e };
  }
  return { state: "failed", reason: FAILED_REASONS[e.code] ?? CR_REASON.failed, message: e.message, error: e };
}

/** Reason for the `certmanager_certificate_*` failure counter and the Warning event on the Certificate. */
export function issuingFailureReason(crReason: string): string {
  return crReason === CR_REASON.denied ? CR_REASON.denied : REASON.failed;
}

/**
 * Re-issuance and readiness decisions as ordered chains of small named checks
 * (cert-manager `internal/controller/certificates/policies`): the first check
 * that fails wins and returns `{reason, message}`.
 */
import type { ParsedCsr } from "./csr.js";
import { type KeyFacts, describeKey, keyMatchesSpec, privateKeyFacts } from "./keys.js";
import { ANN } from "./lib/annotations.js";
import type { Certificate, CertificateRequest, Secret } from "./lib/api.js";
import type { ResolvedSpec } from "./lib/spec.js";
import { type CertInfo, certInfo } from "./lib/x509-info.js";
import { certificateMismatches, requestMismatches } from "./match.js";
import { REASON } from "./reasons.js";
import { renewalTime } from "./renewal.js";

export interface Violation {
  readonly reason: string;
  readonly message: string;
}

/** The parsed contents of the target Secret. */
export interface SecretContents {
  readonly keyPem: string;
  readonly certPem: string;
  /** Facts of tls.key (type, size, SPKI); the key itself is not kept. */
  readonly key: KeyFacts | undefined;
  readonly cert: CertInfo | undefined;
}

/** Everything the checks look at; built once per reconcile. */
export interface PolicyInput {
  readonly certificate: Certificate;
  readonly spec: ResolvedSpec;
  readonly secret: Secret | undefined;
  readonly contents: SecretContents | undefined;
  /** The request of the current revision (`status.revision`), if any. */
  readonly currentRequest: CertificateRequest | undefined;
  /** Its CSR, parsed; undefined with a request means the CSR did not parse. */
  readonly currentRequestCsr: ParsedCsr | undefined;
  readonly now: number;
}

export type Check = (input: PolicyInput) => Violation | undefined;

function decode(data: Record<string, string> | undefined, key: string): string {
  const v = data?.[key];
  return v === undefined ? "" : Buffer.from(v, "base64").toString("utf8");
}

/** Reads tls.crt / tls.key; parse failures leave the field undefined. */
export function readSecretContents(secret: Secret | undefined): SecretContents | undefined {
  if (secret === undefined) return undefined;
  const keyPem = decode(secret.data, "tls.key");
  const certPem = decode(secret.data, "tls.crt");
  let cert: CertInfo | undefined;
  try {
    cert = certPem === "" ? undefined : certInfo(certPem);
  } catch {
    cert = undefined;
  }
  return { keyPem, certPem, key: keyPem === "" ? undefined : privateKeyFacts(keyPem), cert };
}

const fmt = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

export const secretDoesNotExist: Check = (i) =>
  i.secret === undefined ? { reason: REASON.doesNotExist, message: `Issuing certificate as Secret does not exist` } : undefined;

export const secretIsMissingData: Check = (i) => {
  const c = i.contents;
  if (c === undefined || i.secret?.data === undefined) return { reason: REASON.missingData, message: "Issuing certificate as Secret does not contain any data" };
  if (c.keyPem === "") return { reason: REASON.missingData, message: "Issuing certificate as Secret does not contain a private key" };
  if (c.certPem === "") return { reason: REASON.missingData, message: "Issuing certificate as Secret does not contain a certificate" };
  return undefined;
};

export const secretPublicKeysDiffer: Check = (i) => {
  const c = i.contents;
  if (c === undefined) return undefined;
  if (c.key === undefined) return { reason: REASON.invalidKeyPair, message: "Issuing certificate as Secret contains an invalid private key" };
  if (c.cert === undefined) return { reason: REASON.invalidCertificate, message: "Issuing certificate as Secret contains an invalid certificate" };
  if (!c.key.spki.equals(c.cert.spki)) {
    return { reason: REASON.invalidKeyPair, message: "Issuing certificate as Secret contains a private key that does not match the certificate" };
  }
  return undefined;
};

export const secretIssuerAnnotationsMismatch: Check = (i) => {
  const ann = i.secret?.metadata.annotations ?? {};
  const ref = i.spec.issuerRef;
  const name = ann[ANN.issuerName];
  const kind = ann[ANN.issuerKind];
  const group = ann[ANN.issuerGroup];
  // Defaults apply to the annotations too: "" kind means Issuer, "" group means cert-manager.io.
  const kindOk = (kind === undefined || kind === "" ? "Issuer" : kind) === ref.kind;
  const groupOk = (group === undefined || group === "" ? "cert-manager.io" : group) === ref.group;
  if (name !== ref.name || !kindOk || !groupOk) {
    return { reason: REASON.incorrectIssuer, message: `Issuing certificate as Secret was previously issued by "${kind ?? ""}.${group ?? ""}/${name ?? ""}"` };
  }
  return undefined;
};

export const secretCertificateNameAnnotationsMismatch: Check = (i) => {
  const name = i.secret?.metadata.annotations?.[ANN.certificateName];
  if (name !== undefined && name !== i.certificate.metadata.name) {
    return { reason: REASON.incorrectCertificate, message: `Secret was issued for "${name}". If this message is not transient, you might have two conflicting Certificates pointing to the same secret.` };
  }
  return undefined;
};

export const secretPrivateKeyMismatchesSpec: Check = (i) => {
  const key = i.contents?.key;
  if (key === undefined) return undefined;
  if (!keyMatchesSpec(key, i.spec)) {
    return { reason: REASON.secretMismatch, message: `Existing private key (${describeKey(key)}) is not up to date for spec: [spec.privateKey]` };
  }
  return undefined;
};

export const secretPublicKeyDiffersFromCurrentCertificateRequest: Check = (i) => {
  if (i.currentRequest === undefined || i.contents?.key === undefined) return undefined;
  if (i.currentRequestCsr === undefined) {
    return { reason: REASON.invalidCertificateRequest, message: "Failed to decode the current CertificateRequest's CSR" };
  }
  if (!i.contents.key.spki.equals(i.currentRequestCsr.publicKeySpki)) {
    return { reason: REASON.secretMismatch, message: "Secret contains a private key that does not match the current CertificateRequest" };
  }
  return undefined;
};

export const currentCertificateRequestMismatchesSpec: Check = (i) => {
  if (i.currentRequest !== undefined && i.currentRequestCsr !== undefined) {
    const fields = requestMismatches(i.currentRequest, i.currentRequestCsr, i.certificate.spec, i.spec);
    if (fields.length > 0) {
      return { reason: REASON.requestChanged, message: `Fields on existing CertificateRequest resource not up to date: [${fields.join(" ")}]` };
    }
    return undefined;
  }
  const cert = i.contents?.cert;
  if (cert === undefined) return undefined;
  const fields = certificateMismatches(cert, i.spec);
  if (fields.length > 0) {
    return { reason: REASON.secretMismatch, message: `Issuing certificate as Existing issued Secret is not up to date for spec: [${fields.join(" ")}]` };
  }
  return undefined;
};

/** The renewal instant for the certificate in the Secret, per spec. */
export function renewalTimeFor(i: PolicyInput): number | undefined {
  const cert = i.contents?.cert;
  if (cert === undefined) return undefined;
  return renewalTime({
    notBeforeMs: cert.notBeforeMs,
    notAfterMs: cert.notAfterMs,
    renewBeforeMs: i.spec.renewBeforeMs,
    renewBeforePercentage: i.spec.renewBeforePercentage,
    disabled: i.spec.renewalDisabled,
  });
}

export const currentCertificateNearingExpiry: Check = (i) => {
  const at = renewalTimeFor(i);
  if (at === undefined || i.now < at) return undefined;
  return { reason: REASON.renewing, message: `Renewing certificate as renewal was scheduled at ${fmt(at)}` };
};

export const currentCertificateHasExpired: Check = (i) => {
  const cert = i.contents?.cert;
  if (cert === undefined || i.now <= cert.notAfterMs) return undefined;
  return { reason: REASON.expired, message: `Certificate expired on ${fmt(cert.notAfterMs)}` };
};

const COMMON: readonly Check[] = [
  secretDoesNotExist,
  secretIsMissingData,
  secretPublicKeysDiffer,
  secretIssuerAnnotationsMismatch,
  secretCertificateNameAnnotationsMismatch,
  secretPrivateKeyMismatchesSpec,
  secretPublicKeyDiffersFromCurrentCertificateRequest,
  currentCertificateRequestMismatchesSpec,
];

/** Checks 1-9 of cert-manager's trigger chain, in its order. */
export const TRIGGER_CHAIN: readonly Check[] = [...COMMON, currentCertificateNearingExpiry];

/** Checks 1-8 then expiry: a certificate inside its renewal window is still Ready. */
export const READINESS_CHAIN: readonly Check[] = [...COMMON, currentCertificateHasExpired];

/** Runs `chain` and returns the first violation. */
export function evaluate(chain: readonly Check[], input: PolicyInput): Violation | undefined {
  for (const check of chain) {
    const v = check(input);
    if (v !== undefined) return v;
  }
  return undefined;
}

/**
 * Re-issuance and readiness decisions as ordered chains of small named checks
 * (cert-manager `internal/controller/certificates/policies`): the first check
 * that fails wins and returns `{reason, message}`.
 */
import type { ParsedCsr } from "./csr.js";
import { type KeyFacts, keyMatchesSpec, privateKeyFacts } from "./keys.js";
import { ANN } from "./lib/annotations.js";
import type { Certificate, CertificateRequest, Secret } from "./lib/api.js";
import { DEFAULT_ISSUER_GROUP, DEFAULT_ISSUER_KIND, type ResolvedSpec } from "./lib/spec.js";
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
  /** Why tls.key did not parse, in cert-manager's words; never any of the key's bytes. */
  readonly keyError?: string | undefined;
  /** Why tls.crt did not parse, in cert-manager's words. */
  readonly certError?: string | undefined;
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
  /** A renewal instant the issuer suggested (ACME ARI), used when it comes before the spec's. */
  readonly renewalHintMs?: number;
}

export type Check = (input: PolicyInput) => Violation | undefined;

function decode(data: Record<string, string> | undefined, key: string): string {
  const v = data?.[key];
  return v === undefined ? "" : Buffer.from(v, "base64").toString("utf8");
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----/;

/**
 * Why a tls.key that did not parse failed, as cert-manager's
 * `pki.DecodePrivateKeyBytes` words it (the part users grep for); the
 * parser's own detail is left out so no key bytes can reach a condition.
 */
function keyDecodeError(pem: string): string {
  const type = PEM_BLOCK.exec(pem)?.[1];
  if (type === undefined) return "error decoding private key PEM block: no PEM data was found in given input";
  if (type === "PRIVATE KEY") return "error parsing pkcs#8 private key";
  if (type === "EC PRIVATE KEY") return "error parsing ecdsa private key";
  if (type === "RSA PRIVATE KEY") return "error parsing rsa private key";
  return `unknown private key type: ${type}`;
}

/** Why a tls.crt that did not parse failed, as `pki.DecodeX509CertificateBytes` words it. */
function certDecodeError(pem: string): string {
  return pem.includes("-----BEGIN CERTIFICATE-----") ? "error parsing x509 certificate" : "error decoding certificate PEM block: no valid certificates found";
}

/** Reads tls.crt / tls.key; parse failures leave the field undefined and say why. */
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
  const key = keyPem === "" ? undefined : privateKeyFacts(keyPem);
  return {
    keyPem,
    certPem,
    key,
    cert,
    keyError: key === undefined && keyPem !== "" ? keyDecodeError(keyPem) : undefined,
    certError: cert === undefined && certPem !== "" ? certDecodeError(certPem) : undefined,
  };
}

const pad = (n: number, width = 2): string => String(n).padStart(width, "0");

/** Go's `time.Time.String()` for a UTC instant: "2026-03-01 00:00:00 +0000 UTC" (fraction only when non-zero). */
function goTimeString(ms: number): string {
  const d = new Date(ms);
  const frac = d.getUTCMilliseconds() === 0 ? "" : `.${pad(d.getUTCMilliseconds(), 3).replace(/0+$/, "")}`;
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${frac} +0000 UTC`;
}

/** Go's `time.RFC1123` for a UTC instant: "Sun, 01 Mar 2026 03:00:00 UTC". */
function goRfc1123(ms: number): string {
  return new Date(ms).toUTCString().replace(/GMT$/, "UTC");
}

/** `Kind.group/name` with the defaults filled in, as cert-manager's formatIssuerRef prints an issuer. */
function formatIssuerRef(name: string, kind: string, group: string): string {
  return `${kind === "" ? DEFAULT_ISSUER_KIND : kind}.${group === "" ? DEFAULT_ISSUER_GROUP : group}/${name}`;
}

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
  if (c.key === undefined) return { reason: REASON.invalidKeyPair, message: `Issuing certificate as Secret contains invalid private key data: ${c.keyError ?? keyDecodeError(c.keyPem)}` };
  if (c.cert === undefined) return { reason: REASON.invalidCertificate, message: `Issuing certificate as Secret contains an invalid certificate: ${c.certError ?? certDecodeError(c.certPem)}` };
  if (!c.key.spki.equals(c.cert.spki)) {
    return { reason: REASON.invalidKeyPair, message: "Issuing certificate as Secret contains a private key that does not match the certificate" };
  }
  return undefined;
};

/**
 * A Secret that carries none of the three issuer annotations (made by hand or
 * by another tool) is adopted: there is no record of another issuer to
 * disagree with, and the checks after this one still judge its key and
 * certificate. (cert-manager's check says the same in its comment; its Go
 * operator precedence still compares kind and group then, so a Secret without
 * annotations under a ClusterIssuer is re-issued there and adopted here.)
 */
export const secretIssuerAnnotationsMismatch: Check = (i) => {
  const ann = i.secret?.metadata.annotations ?? {};
  const name = ann[ANN.issuerName];
  const kind = ann[ANN.issuerKind];
  const group = ann[ANN.issuerGroup];
  if (name === undefined && kind === undefined && group === undefined) return undefined;
  // Defaults apply to both sides: "" kind means Issuer, "" group means cert-manager.io (spec.issuerRef is resolved).
  const ref = i.spec.issuerRef;
  const kindOk = (kind === undefined || kind === "" ? DEFAULT_ISSUER_KIND : kind) === ref.kind;
  const groupOk = (group === undefined || group === "" ? DEFAULT_ISSUER_GROUP : group) === ref.group;
  if (name !== ref.name || !kindOk || !groupOk) {
    const theirs = formatIssuerRef(name ?? "", kind ?? "", group ?? "");
    return { reason: REASON.incorrectIssuer, message: `Issuing certificate as Secret was previously issued by ${JSON.stringify(theirs)}` };
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

/** The spec fields a key does not satisfy, as cert-manager's PrivateKeyMatchesSpec names them. */
function privateKeyViolations(key: KeyFacts, spec: ResolvedSpec): string[] {
  const algorithm: Record<string, string> = { rsa: "RSA", ec: "ECDSA", ed25519: "Ed25519" };
  if (algorithm[key.asymmetricKeyType ?? ""] !== spec.keyAlgorithm) return ["spec.privateKey.algorithm"];
  return keyMatchesSpec(key, spec) ? [] : ["spec.privateKey.size"];
}

export const secretPrivateKeyMismatchesSpec: Check = (i) => {
  const key = i.contents?.key;
  if (key === undefined) return undefined;
  const violations = privateKeyViolations(key, i.spec);
  if (violations.length > 0) {
    return { reason: REASON.secretMismatch, message: `Existing private key is not up to date for spec: [${violations.join(" ")}]` };
  }
  return undefined;
};

export const secretPublicKeyDiffersFromCurrentCertificateRequest: Check = (i) => {
  if (i.currentRequest === undefined || i.contents?.key === undefined) return undefined;
  if (i.currentRequestCsr === undefined) {
    const pem = Buffer.from(i.currentRequest.spec.request, "base64").toString("utf8");
    const why = pem.includes("-----BEGIN CERTIFICATE REQUEST-----") ? "error parsing certificate request" : "error decoding certificate request PEM block";
    return { reason: REASON.invalidCertificateRequest, message: `Failed to decode current CertificateRequest: ${why}` };
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
  const fromSpec = renewalTime({
    notBeforeMs: cert.notBeforeMs,
    notAfterMs: cert.notAfterMs,
    renewBeforeMs: i.spec.renewBeforeMs,
    renewBeforePercentage: i.spec.renewBeforePercentage,
    disabled: i.spec.renewalDisabled,
  });
  // An issuer's suggestion (ARI) only ever brings renewal earlier, never past the spec's time.
  return fromSpec !== undefined && i.renewalHintMs !== undefined && i.renewalHintMs < fromSpec ? i.renewalHintMs : fromSpec;
}

/**
 * Due when the renewal time computed from the certificate itself has come; the
 * message names the time in status.renewalTime as cert-manager's does (falling
 * back to the computed time before readiness first wrote it).
 */
export const currentCertificateNearingExpiry: Check = (i) => {
  const at = renewalTimeFor(i);
  if (at === undefined || i.now < at) return undefined;
  const recorded = i.certificate.status?.renewalTime;
  const shown = recorded === undefined ? at : Date.parse(recorded);
  return { reason: REASON.renewing, message: `Renewing certificate as renewal was scheduled at ${goTimeString(Number.isNaN(shown) ? at : shown)}` };
};

export const currentCertificateHasExpired: Check = (i) => {
  const cert = i.contents?.cert;
  if (cert === undefined || i.now <= cert.notAfterMs) return undefined;
  return { reason: REASON.expired, message: `Certificate expired on ${goRfc1123(cert.notAfterMs)}` };
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

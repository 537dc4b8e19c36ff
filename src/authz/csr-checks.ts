/**
 * The CSR authorization rules (reference §5 items 5-7, issue 2
 * "Authorization and signing"), one small named check each, in the order they
 * run. Cheap structural checks come first; the signature (the only costly
 * one) runs last, so a malformed or unauthorized request costs no public-key
 * operation.
 */
import { csrSignatureProblem, ExtensionOid, ExtKeyUsageOid, NameOid, type ParsedCsr, parseSpiffeId } from "../pki/index.js";
import type { Check, Violation } from "./chain.js";
import type { CsrPolicy } from "./config.js";

export interface CsrAuthzInput {
  readonly csr: ParsedCsr;
  /** The identity the leaf will carry: the caller's own, or the impersonated one. */
  readonly expectedIdentity: string;
  readonly policy: CsrPolicy;
}

type CsrCheck = Check<CsrAuthzInput>;

export const keyAllowed: CsrCheck = {
  name: "key-allowed",
  check: ({ csr, policy }): Violation | undefined => {
    const k = csr.keyAlgorithm;
    const p = policy.keys;
    switch (k.type) {
      case "rsa":
        if (k.bits < p.rsaMinBits)
          return { code: "ERR_CSR_KEY_WEAK", message: `RSA keys must have at least ${p.rsaMinBits} bits` };
        if (k.bits > p.rsaMaxBits)
          return {
            code: "ERR_CSR_KEY_UNSUPPORTED",
            message: `RSA keys may have at most ${p.rsaMaxBits} bits`,
          };
        return undefined;
      case "ec":
        return p.ecCurves.includes(k.curve)
          ? undefined
          : {
              code: "ERR_CSR_KEY_UNSUPPORTED",
              message: `ECDSA curve ${k.curve} is not allowed (allowed: ${p.ecCurves.join(", ")})`,
            };
      case "ed25519":
        return p.ed25519
          ? undefined
          : { code: "ERR_CSR_KEY_UNSUPPORTED", message: "Ed25519 keys are not allowed" };
      default:
        return { code: "ERR_CSR_KEY_UNSUPPORTED", message: "key algorithm is not allowed" };
    }
  },
};

export const noCommonName: CsrCheck = {
  name: "no-common-name",
  // Any commonName attribute, even an empty one: workload identity lives in the URI SAN only.
  check: ({ csr }) =>
    csr.subject.some((rdn) => rdn.some((a) => a.type === NameOid.commonName))
      ? { code: "ERR_CSR_SUBJECT_FORBIDDEN", message: "the subject must not contain a common name" }
      : undefined,
};

export const subjectAllowed: CsrCheck = {
  name: "subject-allowed",
  check: ({ csr, policy }) => {
    if (!policy.strictSubject || csr.subject.length === 0) return undefined;
    const only = csr.subject.length === 1 ? csr.subject[0] : undefined;
    const a = only?.length === 1 ? only[0] : undefined;
    return a?.type === NameOid.organizationName && a.value === ""
      ? undefined
      : { code: "ERR_CSR_SUBJECT_FORBIDDEN", message: 'the subject must be empty or O=""' };
  },
};

export const onlyUriSans: CsrCheck = {
  name: "only-uri-sans",
  check: ({ csr }) => {
    const forbidden: string[] = [];
    if (csr.dnsNames.length > 0) forbidden.push("DNS");
    if (csr.ipAddresses.length > 0) forbidden.push("IP");
    if (csr.emailAddresses.length > 0) forbidden.push("email");
    if (csr.otherNames > 0) forbidden.push("non-URI");
    return forbidden.length === 0
      ? undefined
      : {
          code: "ERR_CSR_SAN_FORBIDDEN",
          message: `${forbidden.join(", ")} subject alternative names are not allowed`,
        };
  },
};

export const noBasicConstraints: CsrCheck = {
  name: "no-basic-constraints",
  // istio-csr rejects any basicConstraints extension, CA or not; the leaf is always CA:false.
  check: ({ csr }) =>
    csr.extensions.some((e) => e.oid === ExtensionOid.basicConstraints)
      ? { code: "ERR_CSR_CA_FORBIDDEN", message: "basicConstraints (CA requests) are not allowed" }
      : undefined,
};

const ALLOWED_EXTENSIONS: ReadonlySet<string> = new Set([
  ExtensionOid.subjectAltName,
  ExtensionOid.keyUsage,
  ExtensionOid.extKeyUsage,
]);

export const allowedExtensions: CsrCheck = {
  name: "allowed-extensions",
  check: ({ csr }) => {
    const bad = csr.extensions.find((e) => !ALLOWED_EXTENSIONS.has(e.oid));
    return bad === undefined
      ? undefined
      : {
          code: "ERR_CSR_EXTENSION_FORBIDDEN",
          message: `extension ${bad.oid} is not allowed (only subjectAltName, keyUsage and extKeyUsage)`,
        };
  },
};

const ALLOWED_KEY_USAGES: ReadonlySet<string> = new Set(["digitalSignature", "keyEncipherment"]);

export const keyUsageAllowed: CsrCheck = {
  name: "key-usage-allowed",
  check: ({ csr }) => {
    const bad = (csr.keyUsage ?? []).filter((u) => !ALLOWED_KEY_USAGES.has(u));
    return bad.length === 0
      ? undefined
      : { code: "ERR_CSR_KEY_USAGE_FORBIDDEN", message: `key usages ${bad.join(", ")} are not allowed` };
  },
};

const ALLOWED_EKUS: ReadonlySet<string> = new Set([ExtKeyUsageOid.serverAuth, ExtKeyUsageOid.clientAuth]);

export const extKeyUsageAllowed: CsrCheck = {
  name: "ext-key-usage-allowed",
  check: ({ csr }) => {
    const bad = (csr.extKeyUsageOids ?? []).filter((o) => !ALLOWED_EKUS.has(o));
    return bad.length === 0
      ? undefined
      : {
          code: "ERR_CSR_EXT_KEY_USAGE_FORBIDDEN",
          message: `extended key usages ${bad.join(", ")} are not allowed`,
        };
  },
};

export const oneUriSan: CsrCheck = {
  name: "one-uri-san",
  // X.509-SVID §2: exactly one URI SAN.
  check: ({ csr }) =>
    csr.uris.length === 1
      ? undefined
      : {
          code: "ERR_CSR_SAN_MISMATCH",
          message: `the CSR must carry exactly one URI SAN (found ${csr.uris.length})`,
        },
};

export const uriIsSpiffeId: CsrCheck = {
  name: "uri-is-spiffe-id",
  check: ({ csr }) => {
    try {
      for (const u of csr.uris) parseSpiffeId(u);
      return undefined;
    } catch {
      return { code: "ERR_SPIFFE_ID_INVALID", message: "the URI SAN is not a valid SPIFFE ID" };
    }
  },
};

export const uriMatchesIdentity: CsrCheck = {
  name: "uri-matches-identity",
  check: ({ csr, expectedIdentity }) =>
    csr.uris.length === 1 && csr.uris[0] === expectedIdentity
      ? undefined
      : {
          code: "ERR_CSR_SAN_MISMATCH",
          message: "the URI SAN does not match the caller's identity",
          detail: { requested: csr.uris, expected: expectedIdentity },
        },
};

export const signatureValid: CsrCheck = {
  name: "signature-valid",
  check: ({ csr }) => {
    // Worded in src/pki, so the engine's CertificateRequests say the same.
    const problem = csrSignatureProblem(csr);
    return problem === undefined ? undefined : { code: "ERR_CSR_SIGNATURE", message: problem };
  },
};

/** The default chain, in evaluation order. */
export const CSR_CHECKS: readonly CsrCheck[] = [
  keyAllowed,
  noCommonName,
  subjectAllowed,
  onlyUriSans,
  noBasicConstraints,
  allowedExtensions,
  keyUsageAllowed,
  extKeyUsageAllowed,
  oneUriSan,
  uriIsSpiffeId,
  uriMatchesIdentity,
  signatureValid,
];

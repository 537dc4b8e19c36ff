import type { ParsedCertificate } from "./certificate.js";
import { ExtKeyUsageOid } from "./oids.js";
import { spkiKeyType } from "./spki.js";
import type { ExtKeyUsage, KeyUsage } from "./template.js";

/**
 * Key usages a key of each type can have a use for. A usage its key cannot
 * perform is never required of a certificate: RFC 8813 §3 forbids
 * keyEncipherment and dataEncipherment with an EC key and RFC 8410 §5 allows
 * an Ed25519 key only signatures, while cert-manager asks for
 * `key encipherment` by default whatever the key (and Vault roles that follow
 * those RFCs leave it out).
 */
const POSSIBLE: Readonly<Record<"rsa" | "ec" | "ed25519", ReadonlySet<KeyUsage>>> = {
  // RFC 3279 §2.3.1: no keyAgreement (nor encipherOnly / decipherOnly, which qualify it) for RSA.
  rsa: new Set([
    "digitalSignature",
    "contentCommitment",
    "keyEncipherment",
    "dataEncipherment",
    "keyCertSign",
    "cRLSign",
  ]),
  ec: new Set([
    "digitalSignature",
    "contentCommitment",
    "keyAgreement",
    "keyCertSign",
    "cRLSign",
    "encipherOnly",
    "decipherOnly",
  ]),
  ed25519: new Set(["digitalSignature", "contentCommitment", "keyCertSign", "cRLSign"]),
};

const KNOWN_EKU_OIDS: ReadonlySet<string> = new Set(Object.values(ExtKeyUsageOid));

/** Key usages and extended key usages, as a template lists them. */
export interface Usages {
  readonly keyUsage: readonly KeyUsage[];
  readonly extKeyUsage: readonly ExtKeyUsage[];
}

/** The usages a certificate does not allow, and a message naming them that is safe to show. */
export interface UsagesRefusal {
  readonly missing: Usages;
  /** E.g. "its extended key usages [serverAuth] do not allow clientAuth, which was asked for". */
  readonly message: string;
}

/**
 * The usages among `wanted` that `cert` does not allow, read the way TLS
 * stacks read them, or undefined when it allows them all. An absent KeyUsage
 * or ExtKeyUsage extension restricts nothing (RFC 5280 §4.2.1.3, §4.2.1.12);
 * a present one must list each usage asked for that the certificate's key can
 * perform. anyExtendedKeyUsage does not stand in for serverAuth or
 * clientAuth: OpenSSL and BoringSSL (Envoy) refuse a TLS peer whose only EKU
 * it is, although Go accepts it. The certificates checked here are handed to
 * Envoy (Vault's workload certificates) or to a Gateway's TLS clients (ACME's),
 * so the stricter reading is theirs. The client-certificate authenticator
 * (src/authn) takes it, as istiod's Go does: there the question is whether
 * istiod would let the caller renew (test/authn/any-extended-key-usage.test.ts).
 */
export function missingUsages(
  cert: Pick<ParsedCertificate, "keyUsage" | "extKeyUsage" | "extKeyUsageOids" | "publicKeySpki">,
  wanted: Usages,
): UsagesRefusal | undefined {
  const type = spkiKeyType(cert.publicKeySpki);
  const possible = type === "unsupported" ? undefined : POSSIBLE[type];
  const ku = cert.keyUsage;
  const eku = cert.extKeyUsage;
  const missing: Usages = {
    keyUsage:
      ku === undefined ? [] : wanted.keyUsage.filter((u) => !ku.includes(u) && (possible?.has(u) ?? true)),
    extKeyUsage: eku === undefined ? [] : wanted.extKeyUsage.filter((u) => !eku.includes(u)),
  };
  const parts: string[] = [];
  const part = (what: string, has: readonly string[], lacks: readonly string[]) =>
    `its ${what} [${has.join(", ")}] do not allow ${lacks.join(", ")}, which ${lacks.length === 1 ? "was" : "were"} asked for`;
  if (ku !== undefined && missing.keyUsage.length > 0) parts.push(part("key usages", ku, missing.keyUsage));
  if (eku !== undefined && missing.extKeyUsage.length > 0) {
    // Purposes meshsign has no name for are shown by OID.
    const unnamed = (cert.extKeyUsageOids ?? []).filter((o) => !KNOWN_EKU_OIDS.has(o));
    parts.push(part("extended key usages", [...eku, ...unnamed], missing.extKeyUsage));
  }
  return parts.length === 0 ? undefined : { missing, message: parts.join("; ") };
}

/**
 * What a remote CA returns is checked before anything uses it (the same rule
 * as src/csr-service/handler.ts: check what came back before answering):
 * - the leaf's public key is the CSR's (else a CA bug or an attack would
 *   hand out a certificate for somebody else's key);
 * - its DNS and IP SANs are exactly the identifiers ordered;
 * - it is valid now and not a CA;
 * - it can serve TLS, which the Gateway (or Ingress) it is for does with
 *   it: a keyUsage, when present, allows digitalSignature, and an
 *   extendedKeyUsage, when present, allows serverAuth (src/pki/usages.ts,
 *   the check Vault's certificates get). Nothing else is asked: not
 *   clientAuth, which public CAs drop from their certificates in 2026,
 *   whatever the Certificate's `usages` list (cert-manager ignores them for
 *   ACME too), nor keyEncipherment (TLS 1.3 and ECDHE only sign, and an
 *   EC key cannot have it);
 * - the chain links leaf -> intermediates by signature (each certificate
 *   issued by the next), or, when trust anchors are given (the CA's roots,
 *   e.g. Pebble's), verifies to one.
 * A failed check is an ERR_CERT_INVALID whose `detail.check` names it
 * (`publicKey`, `ca`, `names`, `validity`, `usage`): a caller may act on a
 * certificate for another key differently from one the CA will issue alike
 * again.
 */
import { MeshsignError } from "../errors/index.js";
import {
  decodePemAll,
  isIssuedBy,
  missingUsages,
  NameOid,
  type ParsedCertificate,
  parseCertificate,
  type Usages,
  verifyChain,
} from "../pki/index.js";
import type { AcmeIdentifier } from "./problems.js";

export interface IssuedCertificate {
  readonly leaf: ParsedCertificate;
  /** The certificates after the leaf, in the CA's order. */
  readonly intermediates: readonly ParsedCertificate[];
}

export interface VerifyIssuedOptions {
  /** The chain as downloaded (PEM, leaf first). */
  readonly chainPem: string;
  /** SubjectPublicKeyInfo DER of the CSR's key. */
  readonly csrPublicKeySpki: Uint8Array;
  readonly identifiers: readonly AcmeIdentifier[];
  readonly at: Date;
  /** Trust anchors the chain must verify to; omitted: only the links are checked. */
  readonly roots?: readonly Uint8Array[];
}

/** Which check an unusable certificate failed (`detail.check` of its ERR_CERT_INVALID). */
export type IssuedCheck = "publicKey" | "ca" | "names" | "validity" | "usage";

/** What a TLS server certificate must allow: signing the handshake, for server authentication. */
const TLS_SERVER_USAGES: Usages = { keyUsage: ["digitalSignature"], extKeyUsage: ["serverAuth"] };

function bad(check: IssuedCheck, message: string, detail: Record<string, unknown> = {}): never {
  throw new MeshsignError("ERR_CERT_INVALID", `the ACME server's certificate is unusable: ${message}`, {
    detail: { check, ...detail },
  });
}

/** The subject's common name, for a message (the CA's own certificates: nothing secret). */
function subjectOf(cert: ParsedCertificate | undefined): string {
  const cn = cert?.subject.flat().find((a) => a.type === NameOid.commonName)?.value;
  return cn === undefined ? "no common name" : `CN=${cn}`;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}

/** Checks the downloaded chain against the order; returns it parsed. */
export function verifyIssued(options: VerifyIssuedOptions): IssuedCertificate {
  const ders = decodePemAll(options.chainPem, "CERTIFICATE", "ERR_CHAIN_INVALID");
  if (ders.length === 0) bad("names", "no certificate in the response");
  // The leaf's key is not imported: its SPKI must equal the CSR's, whose signature verified with it.
  const certs = ders.map((d, i) => parseCertificate(d, { lazyKey: i === 0 }));
  const [leaf, ...intermediates] = certs as [ParsedCertificate, ...ParsedCertificate[]];
  if (!sameBytes(leaf.publicKeySpki, options.csrPublicKeySpki))
    bad("publicKey", "its public key is not the CSR's");
  if (leaf.basicConstraints?.isCA === true) bad("ca", "it is a CA certificate");
  const want = new Set(
    options.identifiers.map((i) => `${i.type}:${i.type === "dns" ? i.value.toLowerCase() : i.value}`),
  );
  const got = new Set([
    ...leaf.dnsNames.map((d) => `dns:${d.toLowerCase()}`),
    ...leaf.ipAddresses.map((ip) => `ip:${ip}`),
  ]);
  const missing = [...want].filter((w) => !got.has(w));
  const extra = [...got].filter((g) => !want.has(g));
  if (missing.length > 0 || extra.length > 0) {
    const list = (names: string[]): string => (names.length === 0 ? "none" : names.join(", "));
    bad("names", `its names differ from the order (missing: ${list(missing)}; extra: ${list(extra)})`, {
      missing,
      extra,
    });
  }
  const usages = missingUsages(leaf, TLS_SERVER_USAGES);
  if (usages !== undefined)
    bad("usage", `it cannot serve TLS: ${usages.message}`, {
      serial: leaf.serialHex,
      missing: usages.missing,
    });
  const t = options.at.getTime();
  if (t < leaf.notBefore.getTime() || t >= leaf.notAfter.getTime())
    bad("validity", "it is not valid now", {
      serial: leaf.serialHex,
      notBeforeMs: leaf.notBefore.getTime(),
      notAfterMs: leaf.notAfter.getTime(),
    });
  if (options.roots === undefined || options.roots.length === 0) {
    // No anchors to verify a path to: at least each certificate is issued by the one after it
    // (RFC 8555 §9.1: the end-entity certificate first, then the certificates that certify it).
    for (let i = 0; i + 1 < certs.length; i++) {
      if (!isIssuedBy(certs[i] as ParsedCertificate, certs[i + 1] as ParsedCertificate))
        throw new MeshsignError(
          "ERR_CHAIN_INVALID",
          `the ACME server's chain does not link: certificate ${i + 2} (${subjectOf(certs[i + 1])}) did not issue certificate ${i + 1}`,
        );
    }
  }
  try {
    if (options.roots !== undefined && options.roots.length > 0) {
      verifyChain(leaf, intermediates, options.roots, { at: options.at, extKeyUsage: ["serverAuth"] });
    }
  } catch (err) {
    throw new MeshsignError(
      "ERR_CHAIN_INVALID",
      "the ACME server's chain does not verify to the trusted roots",
      {
        cause: err,
      },
    );
  }
  return { leaf, intermediates };
}

/**
 * Certificate chains: order a bag of certificates into one linked chain,
 * verify a leaf against trust anchors, and shape the CreateCertificate
 * response (reference §1.3 and §3.3).
 */
import { type ErrorCode, MeshsignError } from "../errors/index.js";
import { type ParsedCertificate, parseCertificate } from "./certificate.js";
import { bytesEqual } from "./lib/bytes.js";
import { decodePemAll, encodePem } from "./pem.js";
import type { ExtKeyUsage } from "./template.js";

const CODE: ErrorCode = "ERR_CHAIN_INVALID";

function invalid(message: string, detail?: Record<string, unknown>): never {
  throw new MeshsignError(CODE, message, { detail });
}

function toParsed(certs: readonly (Uint8Array | ParsedCertificate)[]): ParsedCertificate[] {
  return certs.map((c) => (c instanceof Uint8Array ? parseCertificate(c) : c));
}

/** True when `issuer` issued `child`: names link and the signature verifies under the issuer's key. */
export function isIssuedBy(child: ParsedCertificate, issuer: ParsedCertificate): boolean {
  if (!bytesEqual(child.issuerDer, issuer.subjectDer)) return false;
  // An AKI that disagrees with the issuer's SKI rules the pair out before any signature work.
  if (
    child.authorityKeyId !== undefined &&
    issuer.subjectKeyId !== undefined &&
    !bytesEqual(child.authorityKeyId, issuer.subjectKeyId)
  ) {
    return false;
  }
  if (issuer.keyAlgorithm === undefined) return false;
  return child.verifySignature(issuer.publicKey());
}

/**
 * Orders certificates into one chain, leaf first, each followed by its
 * issuer. Duplicates (same DER) are dropped. Fails with ERR_CHAIN_INVALID
 * when the certificates do not form exactly one linked chain: a fork (one
 * issuer for two certificates, or two leaves), a certificate that links to
 * nothing, or an empty input.
 */
export function orderChain(certs: readonly (Uint8Array | ParsedCertificate)[]): ParsedCertificate[] {
  const unique: ParsedCertificate[] = [];
  for (const c of toParsed(certs)) if (!unique.some((u) => bytesEqual(u.der, c.der))) unique.push(c);
  if (unique.length === 0) invalid("no certificates");
  if (unique.length === 1) return unique;
  // parentOf[i] = index of i's issuer in the bag (self-signed roots have none).
  const parentOf = unique.map((c, i) => {
    const parents = unique.flatMap((p, j) => (j !== i && isIssuedBy(c, p) ? [j] : []));
    if (parents.length > 1) invalid("a certificate has more than one issuer in the chain");
    return parents[0];
  });
  const childCount = unique.map((_, j) => parentOf.filter((p) => p === j).length);
  if (childCount.some((n) => n > 1)) invalid("the certificates fork: one issuer signed several of them");
  const leaves = unique.flatMap((_, i) => (childCount[i] === 0 ? [i] : []));
  if (leaves.length !== 1) invalid("the certificates do not form a single chain");
  const ordered: ParsedCertificate[] = [];
  for (let i: number | undefined = leaves[0]; i !== undefined; i = parentOf[i]) {
    ordered.push(unique[i] as ParsedCertificate);
    if (ordered.length > unique.length) invalid("the certificates form a cycle");
  }
  if (ordered.length !== unique.length) invalid("some certificates are not linked to the chain");
  return ordered;
}

export interface VerifyOptions {
  /** The time to check validity at (inject the clock). */
  readonly at: Date;
  /** EKUs the leaf must allow (a leaf without an EKU extension allows all). Default none. */
  readonly extKeyUsage?: readonly ExtKeyUsage[];
  /** Longest path accepted, leaf and anchor included. Default 10. */
  readonly maxDepth?: number;
}

function checkTime(c: ParsedCertificate, at: Date, what: string): void {
  const t = at.getTime();
  if (t < c.notBefore.getTime()) invalid(`${what} is not yet valid`, { serial: c.serialHex });
  if (t > c.notAfter.getTime()) invalid(`${what} has expired`, { serial: c.serialHex });
}

function checkCa(c: ParsedCertificate, what: string): void {
  if (c.basicConstraints?.isCA !== true) invalid(`${what} is not a CA`, { serial: c.serialHex });
  if (c.keyUsage !== undefined && !c.keyUsage.includes("keyCertSign")) {
    invalid(`${what} may not sign certificates (no keyCertSign)`, { serial: c.serialHex });
  }
}

/**
 * Verifies `leaf` up to one of `roots` through `intermediates` (RFC 5280 §6,
 * reduced to what meshsign issues and loads: name chaining, signatures,
 * validity at `at`, CA basic constraints and keyCertSign, pathLen, and the
 * leaf's EKUs). Returns the path leaf -> anchor.
 */
export function verifyChain(
  leaf: Uint8Array | ParsedCertificate,
  intermediates: readonly (Uint8Array | ParsedCertificate)[],
  roots: readonly (Uint8Array | ParsedCertificate)[],
  options: VerifyOptions,
): ParsedCertificate[] {
  const [l] = toParsed([leaf]) as [ParsedCertificate];
  const ints = toParsed(intermediates);
  const anchors = toParsed(roots);
  if (anchors.length === 0) invalid("no trust anchors");
  const maxDepth = options.maxDepth ?? 10;
  checkTime(l, options.at, "certificate");
  const ekus = l.extKeyUsage;
  for (const e of options.extKeyUsage ?? []) {
    if (ekus !== undefined && !ekus.includes(e) && !ekus.includes("any"))
      invalid(`certificate does not allow ${e}`);
  }

  // Depth-first search over issuers; the path is short and the candidate sets tiny.
  const search = (path: ParsedCertificate[]): ParsedCertificate[] | undefined => {
    const current = path[path.length - 1] as ParsedCertificate;
    // Intermediates between current and the leaf (RFC 5280 §6.1.4 (l), self-issued ones excluded).
    const below = path.slice(1).filter((c) => !c.selfIssued).length;
    for (const a of anchors) {
      if (bytesEqual(a.der, current.der)) return path;
      if (isIssuedBy(current, a)) {
        checkCa(a, "trust anchor");
        checkTime(a, options.at, "trust anchor");
        if (a.basicConstraints?.pathLen !== undefined && below > a.basicConstraints.pathLen) continue;
        return [...path, a];
      }
    }
    if (path.length >= maxDepth - 1) return undefined;
    for (const c of ints) {
      if (path.some((p) => bytesEqual(p.der, c.der)) || !isIssuedBy(current, c)) continue;
      checkCa(c, "intermediate");
      checkTime(c, options.at, "intermediate");
      if (c.basicConstraints?.pathLen !== undefined && below > c.basicConstraints.pathLen) continue;
      const found = search([...path, c]);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  const path = search([l]);
  if (path === undefined) invalid("certificate does not chain to a trusted root", { serial: l.serialHex });
  return path;
}

/**
 * The CreateCertificate `cert_chain`: `[leaf, intermediate..., roots]` with
 * one certificate per element except the last, which holds every root
 * concatenated (reference §1.3: istio-agent takes the last element as the
 * root bundle, ztunnel parses it as several roots and every middle element as
 * exactly one certificate). Inputs may be PEM bundles; a self-signed root that
 * an issuer put in `intermediates` is dropped, the roots come only from
 * `rootsPem`.
 */
export function svidResponseChain(
  leaf: string,
  intermediates: readonly string[],
  rootsPem: string,
): string[] {
  const leafDer = decodePemAll(leaf, "CERTIFICATE", CODE);
  if (leafDer.length !== 1) invalid("leaf must be exactly one certificate");
  const middle: string[] = [];
  for (const bundle of intermediates) {
    for (const der of decodePemAll(bundle, "CERTIFICATE", CODE)) {
      const c = parseCertificate(der);
      if (c.selfIssued && c.keyAlgorithm !== undefined && c.verifySignature(c.publicKey())) continue;
      middle.push(encodePem("CERTIFICATE", der));
    }
  }
  const roots = decodePemAll(rootsPem, "CERTIFICATE", CODE);
  if (roots.length === 0) invalid("no root certificates to return");
  return [
    encodePem("CERTIFICATE", leafDer[0] as Uint8Array),
    ...middle,
    roots.map((r) => encodePem("CERTIFICATE", r)).join(""),
  ];
}

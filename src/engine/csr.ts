/**
 * Building a Certificate's CSR (cert-manager's `GenerateCSR`) and reading a
 * CertificateRequest back into what it asks for (for the spec-match policy
 * and for the issuers' template). Both go through src/pki's PKCS#10 encoder
 * and strict parser; parsed CSRs are memoized by PEM text, since the current
 * request is read again on every reconcile of its Certificate.
 */
import { type KeyObject, createHash } from "node:crypto";
import {
  type CertificateTemplate,
  type Name,
  type NameConstraints,
  type OtherName,
  buildCsr as buildPkcs10,
  csrSignatureProblem,
  parseCsr as parsePkcs10,
  readNameConstraints,
  readUtf8OtherNames,
} from "../pki/index.js";
import { isMeshsignError, MeshsignError } from "../errors/index.js";
import type { CertificateRequest, CertificateSpec } from "./lib/api.js";
import { literalSubjectName } from "./lib/literal-subject.js";
import { DEFAULT_DURATION_MS, type ResolvedSpec, goDurationMs, usagesToTemplate } from "./lib/spec.js";

/**
 * What a CertificateRequest's CSR asks for: the part of src/pki's ParsedCsr
 * the policies and the issuers' template use. Kept small on purpose: one is
 * memoized per live request, so 10,000 Certificates hold 10,000 of them.
 */
export interface ParsedCsr {
  readonly publicKeySpki: Uint8Array;
  readonly subject: Name;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly uris: readonly string[];
  readonly emailAddresses: readonly string[];
  /** otherName SANs with UTF8String values. */
  readonly otherNames: readonly OtherName[];
  readonly nameConstraints: NameConstraints | undefined;
}

export const OID = {
  commonName: "2.5.4.3",
  serialNumber: "2.5.4.5",
  country: "2.5.4.6",
  locality: "2.5.4.7",
  province: "2.5.4.8",
  streetAddress: "2.5.4.9",
  organization: "2.5.4.10",
  organizationalUnit: "2.5.4.11",
  postalCode: "2.5.4.17",
} as const;

/**
 * The subject a spec asks for, as Go's `pkix.Name.ToRDNSequence` writes it
 * (cert-manager builds a pkix.Name): C, ST, L, STREET, postalCode, O, OU as
 * one RDN each holding every value of that field (a multi-valued RDN), then
 * CN and serialNumber.
 */
export function subjectFromSpec(spec: CertificateSpec): Name {
  const s = spec.subject ?? {};
  const rdns: { type: string; value: string }[][] = [];
  const add = (type: string, values: readonly string[] | undefined): void => {
    if (values !== undefined && values.length > 0) rdns.push(values.map((value) => ({ type, value })));
  };
  add(OID.country, s.countries);
  add(OID.province, s.provinces);
  add(OID.locality, s.localities);
  add(OID.streetAddress, s.streetAddresses);
  add(OID.postalCode, s.postalCodes);
  add(OID.organization, s.organizations);
  add(OID.organizationalUnit, s.organizationalUnits);
  if (spec.commonName !== undefined && spec.commonName !== "") add(OID.commonName, [spec.commonName]);
  if (s.serialNumber !== undefined && s.serialNumber !== "") add(OID.serialNumber, [s.serialNumber]);
  return rdns;
}

/** The subject the CSR carries: the literal subject when set, else the one built from the spec's fields. */
export function requestedSubject(certSpec: CertificateSpec): Name {
  const literal = certSpec.literalSubject;
  return literal !== undefined && literal !== "" ? literalSubjectName(literal) : subjectFromSpec(certSpec);
}

/** spec.nameConstraints in src/pki's shape (critical defaults to false, as in cert-manager's API). */
export function nameConstraintsFromSpec(certSpec: CertificateSpec): NameConstraints | undefined {
  const nc = certSpec.nameConstraints;
  if (nc === undefined) return undefined;
  return {
    critical: nc.critical ?? false,
    ...(nc.permitted === undefined ? {} : { permitted: nc.permitted }),
    ...(nc.excluded === undefined ? {} : { excluded: nc.excluded }),
  };
}

/**
 * Builds and signs the PEM CSR for a Certificate with `key`, as
 * cert-manager's `GenerateCSR`: SAN (DNS, email, IP, URI, otherName;
 * critical iff the subject is empty), KeyUsage (critical) and ExtKeyUsage
 * unless `encodeUsagesInRequest: false`, NameConstraints when set (its
 * feature gate is on by default), no BasicConstraints (cert-manager's alpha
 * gate, off by default).
 */
export function buildCsr(certSpec: CertificateSpec, spec: ResolvedSpec, key: KeyObject): string {
  const subject = requestedSubject(certSpec);
  const hasCommonName = subject.some((rdn) => rdn.some((a) => a.type === OID.commonName && a.value !== ""));
  const sans = [spec.dnsNames, spec.uris, spec.emailAddresses, spec.ipAddresses, certSpec.otherNames ?? []];
  if (!hasCommonName && sans.every((l) => l.length === 0)) {
    // GenerateCSR's own guard (validation refuses such a spec first).
    throw new Error("no common name (from the commonName field or from a literalSubject), DNS name, URI SAN, Email SAN, IP or OtherName SAN specified on certificate");
  }
  const usages = spec.encodeUsagesInRequest ? usagesToTemplate(spec.usages, spec.isCA) : undefined;
  const nameConstraints = nameConstraintsFromSpec(certSpec);
  const pem = buildPkcs10(key, {
    subject,
    dnsNames: spec.dnsNames,
    ipAddresses: spec.ipAddresses,
    uris: spec.uris,
    emailAddresses: spec.emailAddresses,
    otherNames: (certSpec.otherNames ?? []).map((o) => ({ oid: o.oid, value: o.utf8Value })),
    sanCritical: subject.length === 0,
    ...(usages !== undefined && usages.keyUsage.length > 0 ? { keyUsage: usages.keyUsage } : {}),
    ...(usages !== undefined && usages.extKeyUsage.length > 0 ? { extKeyUsage: usages.extKeyUsage } : {}),
    ...(nameConstraints !== undefined ? { nameConstraints } : {}),
  });
  // The request made from this PEM is read back at once (the signer, the spec-match policy): what it
  // asks for is remembered now, read as any CSR is, without checking again a signature made a moment
  // ago with the key at hand (a key import and a verify, about 0.3 ms per issuance on the 2-core
  // reference machine). A PEM that differs in any byte is read and checked in full.
  try {
    remember(pem, readCsr(pem, false));
  } catch {
    // Never expected; parseCsr reports it when the request is read.
  }
  return pem;
}

/**
 * Largest CSR (PEM text) the engine builds or reads in its own CertificateRequests: 128 KiB.
 * Not the CreateCertificate port's 16 KiB, which is sized for one workload identity: a
 * Certificate may carry up to `MAX_CERTIFICATE_NAMES_BYTES` (src/api/limits.ts) of names (what validation
 * accepts), whose CSR with the largest key meshsign generates (RSA 8192) is about 95 KiB of PEM.
 * A limit below what validation accepts made such a Certificate fail on every pass.
 */
export const ENGINE_MAX_CSR_BYTES = 128 * 1024;

/**
 * Entries kept (oldest dropped first). A Certificate's reconciles during one issuance or
 * renewal run close together (at most 32 at once), so a few thousand entries catch every
 * repeat; at steady state nothing is re-read until the renewal time, and 10,000s of entries
 * (about 1 KB each) only held memory.
 */
const CACHE_LIMIT = 1024;
/** sha256(PEM) -> what it asks for (the PEM and the parsed key are not kept). */
const cache = new Map<string, ParsedCsr>();

/** Reads a PEM CSR and checks its signature (proof of possession); throws when it is not a valid one. */
export function parseCsr(pem: string): ParsedCsr {
  const hit = cache.get(cacheKey(pem));
  if (hit !== undefined) return hit;
  const asked = readCsr(pem, true);
  remember(pem, asked);
  return asked;
}

/**
 * The CSR of a CertificateRequest about to be signed, or the error its Ready condition shows
 * (RequestParsingError): a signature that is no proof of possession in the words CreateCertificate
 * uses for it (an RSASSA-PSS CSR names the parameters Go refuses), anything else as a CSR that
 * cannot be decoded.
 */
export function parseRequestCsr(pem: string): ParsedCsr {
  try {
    return parseCsr(pem);
  } catch (err) {
    if (isMeshsignError(err, "ERR_CSR_SIGNATURE"))
      throw new MeshsignError("ERR_CSR_SIGNATURE", `The CSR in the CertificateRequest is refused: ${err.message}`, { cause: err });
    throw new MeshsignError("ERR_CSR_DER", "Failed to decode the CSR in the CertificateRequest", { cause: err });
  }
}

function cacheKey(pem: string): string {
  return createHash("sha256").update(pem).digest("base64");
}

function remember(pem: string, asked: ParsedCsr): void {
  if (cache.size >= CACHE_LIMIT) {
    const oldest = cache.keys().next().value;
    if (oldest !== undefined) cache.delete(oldest);
  }
  cache.set(cacheKey(pem), asked);
}

/** What a PEM CSR asks for; with `verify`, only when its signature verifies (proof of possession). */
function readCsr(pem: string, verify: boolean): ParsedCsr {
  const csr = parsePkcs10(pem, { maxBytes: ENGINE_MAX_CSR_BYTES });
  const refused = verify ? csrSignatureProblem(csr) : undefined;
  if (refused !== undefined) throw new MeshsignError("ERR_CSR_SIGNATURE", refused);
  const otherNames = readUtf8OtherNames(csr.extensions);
  if (csr.otherNames !== otherNames.length) {
    // directoryName, registeredID, ... or a non-UTF8String otherName: refused rather than silently left out.
    throw new MeshsignError("ERR_CSR_DER", "the CSR asks for subject alternative names other than DNS, IP, URI, email and UTF8String otherName, which meshsign cannot issue");
  }
  return {
    // A copy: a view would keep the whole decoded CSR alive.
    publicKeySpki: new Uint8Array(csr.publicKeySpki),
    subject: csr.subject,
    dnsNames: csr.dnsNames,
    ipAddresses: csr.ipAddresses,
    uris: csr.uris,
    emailAddresses: csr.emailAddresses,
    otherNames,
    nameConstraints: readNameConstraints(csr.extensions),
  };
}

/**
 * The template an in-process issuer signs for a CertificateRequest, as
 * cert-manager's CA issuer builds it: SANs (otherNames included), subject
 * and NameConstraints from the CSR; isCA, usages and duration from the
 * request; notBefore = now (no backdating).
 */
export function templateFromRequest(cr: CertificateRequest, csr: ParsedCsr, nowMs: number): CertificateTemplate {
  const isCA = cr.spec.isCA ?? false;
  const { keyUsage, extKeyUsage } = usagesToTemplate(cr.spec.usages ?? [], isCA);
  const durationMs = goDurationMs(cr.spec.duration) ?? DEFAULT_DURATION_MS;
  // Second resolution, like Go's x509 encoding of UTCTime/GeneralizedTime.
  const notBefore = Math.floor(nowMs / 1000) * 1000;
  return {
    publicKeySpki: csr.publicKeySpki,
    subject: csr.subject,
    dnsNames: csr.dnsNames,
    ipAddresses: csr.ipAddresses,
    uris: csr.uris,
    emailAddresses: csr.emailAddresses,
    otherNames: csr.otherNames,
    isCA,
    // Carried as asked; signCertificate refuses them on a non-CA certificate rather than dropping them.
    ...(csr.nameConstraints !== undefined ? { nameConstraints: csr.nameConstraints } : {}),
    keyUsage,
    extKeyUsage,
    notBefore: new Date(notBefore),
    notAfter: new Date(notBefore + durationMs),
  };
}

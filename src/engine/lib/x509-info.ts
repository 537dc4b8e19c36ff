/**
 * The facts the engine needs from a PEM certificate, read with src/pki's
 * strict DER parser and memoized by PEM text: the same Secret is read on
 * every reconcile.
 */
import { createHash } from "node:crypto";
import { type KeyAlgorithm, type Name, NameOid, decodePemAll, parseCertificate } from "../../pki/index.js";

export interface CertInfo {
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  readonly spki: Buffer;
  readonly serialHex: string;
  readonly isCA: boolean;
  /** RFC 4514-style text of the subject, in certificate order ("O=Example, CN=www.example.com"). */
  readonly subjectString: string;
  readonly issuerString: string;
  /** Subject attribute values by OID, in order. */
  readonly subject: ReadonlyMap<string, readonly string[]>;
  readonly commonName: string;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly uris: readonly string[];
  readonly emailAddresses: readonly string[];
  /** "RSA 2048", "ECDSA P-256", "Ed25519", or "unsupported". */
  readonly keyAlgorithm: string;
  readonly fingerprintSha256: string;
}

const SHORT: Record<string, string> = {
  [NameOid.commonName]: "CN",
  [NameOid.localityName]: "L",
  [NameOid.stateOrProvinceName]: "ST",
  [NameOid.organizationName]: "O",
  [NameOid.organizationalUnitName]: "OU",
  [NameOid.countryName]: "C",
  [NameOid.streetAddress]: "STREET",
  [NameOid.domainComponent]: "DC",
  [NameOid.userId]: "UID",
  [NameOid.serialNumber]: "SERIALNUMBER",
  [NameOid.postalCode]: "postalCode",
  [NameOid.emailAddress]: "E",
};

/** RFC 4514 §2.4 escaping of an attribute value. */
function escapeValue(v: string): string {
  let out = v.replace(/[\\,+"<>;=]/g, (c) => `\\${c}`);
  if (out.startsWith("#") || out.startsWith(" ")) out = `\\${out}`;
  if (out.endsWith(" ") && out.length > 1) out = `${out.slice(0, -1)}\\ `;
  return out;
}

/** Name as text, RDNs in certificate order joined by ", ", multi-valued RDNs by "+". */
export function formatName(name: Name): string {
  return name.map((rdn) => rdn.map((a) => `${SHORT[a.type] ?? a.type}=${escapeValue(a.value)}`).join("+")).join(", ");
}

function describeAlgorithm(k: KeyAlgorithm | undefined): string {
  if (k === undefined) return "unsupported";
  if (k.type === "rsa") return `RSA ${k.bits}`;
  if (k.type === "ec") return `ECDSA ${k.curve}`;
  return "Ed25519";
}

/**
 * Entries kept (oldest dropped first). A Certificate's reconciles during one issuance or
 * renewal run close together (at most 32 at once), so a few thousand entries catch every
 * repeat; at steady state nothing is re-read until the renewal time, and 10,000s of entries
 * (about 1 KB each) only held memory.
 */
const CACHE_LIMIT = 1024;
/** sha256(PEM) -> facts; the PEM itself is not kept. */
const cache = new Map<string, CertInfo>();

/** The first certificate of a PEM chain; throws when there is none or it does not parse. */
export function certInfo(pem: string): CertInfo {
  const id = createHash("sha256").update(pem).digest("base64");
  const hit = cache.get(id);
  if (hit !== undefined) return hit;
  const der = decodePemAll(pem, "CERTIFICATE")[0];
  if (der === undefined) throw new Error("no certificate in PEM");
  const cert = parseCertificate(der);
  const subject = new Map<string, string[]>();
  for (const rdn of cert.subject) for (const a of rdn) subject.set(a.type, [...(subject.get(a.type) ?? []), a.value]);
  const info: CertInfo = {
    notBeforeMs: cert.notBefore.getTime(),
    notAfterMs: cert.notAfter.getTime(),
    spki: ownCopy(cert.publicKeySpki),
    serialHex: cert.serialHex,
    isCA: cert.basicConstraints?.isCA ?? false,
    subjectString: formatName(cert.subject),
    issuerString: formatName(cert.issuer),
    subject,
    commonName: subject.get(NameOid.commonName)?.[0] ?? "",
    dnsNames: cert.dnsNames,
    ipAddresses: cert.ipAddresses,
    uris: cert.uris,
    emailAddresses: cert.emailAddresses,
    keyAlgorithm: describeAlgorithm(cert.keyAlgorithm),
    fingerprintSha256: createHash("sha256").update(der).digest("hex"),
  };
  if (cache.size >= CACHE_LIMIT) {
    const oldest = cache.keys().next().value;
    if (oldest !== undefined) cache.delete(oldest);
  }
  cache.set(id, info);
  return info;
}

/**
 * A copy with its own exact-size memory. A view would keep the whole decoded
 * certificate alive in the cache, and `Buffer.from(bytes)` copies small inputs
 * into Node's shared 8 KiB allocation pool, so one cached 91-byte SPKI pinned a
 * whole pool slab (measured: 14 MB of slabs for 3,000 cached certificates).
 */
function ownCopy(bytes: Uint8Array): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.byteLength);
  copy.set(bytes);
  return copy;
}

/** Every certificate PEM block of a chain, in order. */
export function splitPemChain(pem: string): string[] {
  return [...pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)].map((m) => `${m[0]}\n`);
}

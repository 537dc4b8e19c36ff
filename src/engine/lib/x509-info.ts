/**
 * The facts the engine needs from a PEM certificate, memoized by PEM text:
 * the same Secret is read on every reconcile and parsing costs milliseconds.
 */
import "reflect-metadata";
import { createHash, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as never);

export interface CertInfo {
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  readonly spki: Buffer;
  readonly serialHex: string;
  readonly isCA: boolean;
  readonly subjectString: string;
  readonly issuerString: string;
  /** Subject attribute values by OID, in order. */
  readonly subject: ReadonlyMap<string, readonly string[]>;
  readonly commonName: string;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly uris: readonly string[];
  readonly emailAddresses: readonly string[];
  readonly keyAlgorithm: string;
  readonly fingerprintSha256: string;
}

const SHORT: Record<string, string> = {
  CN: "2.5.4.3", L: "2.5.4.7", ST: "2.5.4.8", O: "2.5.4.10", OU: "2.5.4.11", C: "2.5.4.6",
  DC: "0.9.2342.19200300.100.1.25", E: "1.2.840.113549.1.9.1", G: "2.5.4.42", I: "2.5.4.43", SN: "2.5.4.4", T: "2.5.4.12",
};

const CACHE_LIMIT = 20_000;
const cache = new Map<string, CertInfo>();

/** The first certificate of a PEM chain; throws when there is none or it does not parse. */
export function certInfo(pem: string): CertInfo {
  const hit = cache.get(pem);
  if (hit !== undefined) return hit;
  const first = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(pem);
  if (first === null) throw new Error("no certificate in PEM");
  const cert = new x509.X509Certificate(first[0]);
  const subject = new Map<string, string[]>();
  for (const rdn of cert.subjectName.toJSON()) {
    for (const [k, values] of Object.entries(rdn)) {
      const oid = SHORT[k] ?? k;
      subject.set(oid, [...(subject.get(oid) ?? []), ...values]);
    }
  }
  const sanExt = cert.getExtension("2.5.29.17");
  const names: x509.JsonGeneralName[] =
    sanExt === null ? [] : new x509.SubjectAlternativeNameExtension(sanExt.rawData).names.toJSON();
  const pick = (type: string): string[] => names.filter((n) => n.type === type).map((n) => n.value);
  const bc = cert.getExtension("2.5.29.19");
  const info: CertInfo = {
    notBeforeMs: cert.notBefore.getTime(),
    notAfterMs: cert.notAfter.getTime(),
    spki: Buffer.from(cert.publicKey.rawData),
    serialHex: cert.serialNumber,
    isCA: bc === null ? false : new x509.BasicConstraintsExtension(bc.rawData).ca,
    subjectString: cert.subject,
    issuerString: cert.issuer,
    subject,
    commonName: subject.get("2.5.4.3")?.[0] ?? "",
    dnsNames: pick("dns"),
    ipAddresses: pick("ip"),
    uris: pick("url"),
    emailAddresses: pick("email"),
    keyAlgorithm: cert.publicKey.algorithm.name,
    fingerprintSha256: createHash("sha256").update(Buffer.from(cert.rawData)).digest("hex"),
  };
  if (cache.size >= CACHE_LIMIT) {
    const oldest = cache.keys().next().value;
    if (oldest !== undefined) cache.delete(oldest);
  }
  cache.set(pem, info);
  return info;
}

/** Every certificate PEM block of a chain, in order. */
export function splitPemChain(pem: string): string[] {
  return [...pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)].map((m) => `${m[0]}\n`);
}

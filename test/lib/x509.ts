import "reflect-metadata";
import * as x509 from "@peculiar/x509";

/** What the tests check in an issued leaf, read with @peculiar/x509 (independent of meshsign's own parser). */
export interface LeafFacts {
  readonly subject: string;
  readonly uris: string[];
  /** Every SAN that is not a URI, as "type:value". */
  readonly otherSans: string[];
  readonly sanCritical: boolean | undefined;
  readonly isCA: boolean | undefined;
  readonly keyUsage: { critical: boolean; usages: string[] } | undefined;
  readonly extKeyUsage: string[];
  readonly subjectKeyId: string | undefined;
  readonly authorityKeyId: string | undefined;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly serialNumber: string;
  /** OIDs of every extension, in order. */
  readonly extensionOids: string[];
}

const KU_NAMES: [x509.KeyUsageFlags, string][] = [
  [x509.KeyUsageFlags.digitalSignature, "digitalSignature"],
  [x509.KeyUsageFlags.nonRepudiation, "nonRepudiation"],
  [x509.KeyUsageFlags.keyEncipherment, "keyEncipherment"],
  [x509.KeyUsageFlags.dataEncipherment, "dataEncipherment"],
  [x509.KeyUsageFlags.keyAgreement, "keyAgreement"],
  [x509.KeyUsageFlags.keyCertSign, "keyCertSign"],
  [x509.KeyUsageFlags.cRLSign, "cRLSign"],
  [x509.KeyUsageFlags.encipherOnly, "encipherOnly"],
  [x509.KeyUsageFlags.decipherOnly, "decipherOnly"],
];

export function leafFacts(pem: string): LeafFacts {
  const cert = new x509.X509Certificate(pem);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension);
  const names = san?.names.items ?? [];
  return {
    subject: cert.subject,
    uris: names.filter((n) => n.type === "url").map((n) => n.value),
    otherSans: names.filter((n) => n.type !== "url").map((n) => `${n.type}:${n.value}`),
    sanCritical: san?.critical,
    isCA: bc?.ca,
    keyUsage: ku
      ? { critical: ku.critical, usages: KU_NAMES.filter(([f]) => (ku.usages & f) !== 0).map(([, n]) => n) }
      : undefined,
    extKeyUsage: (eku?.usages ?? []).map(String),
    subjectKeyId: ski?.keyId,
    authorityKeyId: aki?.keyId,
    notBefore: cert.notBefore.getTime(),
    notAfter: cert.notAfter.getTime(),
    serialNumber: cert.serialNumber,
    extensionOids: cert.extensions.map((e) => e.type),
  };
}

/** Subject key identifier of a CA certificate (hex), to compare with a leaf's AKI. */
export function subjectKeyIdOf(pem: string): string | undefined {
  return new x509.X509Certificate(pem).getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
}

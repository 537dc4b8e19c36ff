/**
 * Building a Certificate's CSR (cert-manager's `GenerateCSR`) and reading a
 * CertificateRequest back into what it asks for (for the spec-match policy
 * and for the issuers' template).
 */
import "reflect-metadata";
import { type KeyObject, createPublicKey, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import type { CertificateTemplate, Name } from "../pki/template.js";
import type { CertificateRequest, CertificateSpec } from "./lib/api.js";
import { type ResolvedSpec, goDurationMs, usagesToTemplate, DEFAULT_DURATION_MS } from "./lib/spec.js";

x509.cryptoProvider.set(webcrypto as never);

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

/** peculiar's short attribute names back to OIDs (its Name.toJSON uses them). */
const SHORT_NAMES: Record<string, string> = {
  CN: "2.5.4.3",
  L: "2.5.4.7",
  ST: "2.5.4.8",
  O: "2.5.4.10",
  OU: "2.5.4.11",
  C: "2.5.4.6",
  DC: "0.9.2342.19200300.100.1.25",
  E: "1.2.840.113549.1.9.1",
  G: "2.5.4.42",
  I: "2.5.4.43",
  SN: "2.5.4.4",
  T: "2.5.4.12",
};

/**
 * The subject a spec asks for, in Go's pkix.Name RDN order (C, ST, L, STREET,
 * postalCode, O, OU, CN, serialNumber), one attribute per RDN.
 */
export function subjectFromSpec(spec: CertificateSpec): Name {
  const s = spec.subject ?? {};
  const rdns: { type: string; value: string }[][] = [];
  const add = (type: string, values: readonly string[] | undefined): void => {
    for (const value of values ?? []) rdns.push([{ type, value }]);
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

function jsonName(name: Name): x509.JsonName {
  return name.map((rdn) => {
    const out: Record<string, string[]> = {};
    for (const a of rdn) {
      const values = out[a.type] ?? [];
      values.push(a.value);
      out[a.type] = values;
    }
    return out;
  });
}

function nameFromPeculiar(name: x509.Name): Name {
  return name.toJSON().map((rdn) =>
    Object.entries(rdn).flatMap(([type, values]) => values.map((value) => ({ type: SHORT_NAMES[type] ?? type, value }))),
  );
}

function importAlgorithm(key: KeyObject): { importAlg: webcrypto.Algorithm | webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams; signAlg: webcrypto.Algorithm | webcrypto.EcdsaParams } {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === "rsa") {
    const bits = d.modulusLength ?? 2048;
    const hash = bits >= 4096 ? "SHA-512" : bits >= 3072 ? "SHA-384" : "SHA-256";
    const alg = { name: "RSASSA-PKCS1-v1_5", hash };
    return { importAlg: alg, signAlg: alg };
  }
  if (key.asymmetricKeyType === "ec") {
    const curve = d.namedCurve === "prime256v1" ? "P-256" : d.namedCurve === "secp384r1" ? "P-384" : "P-521";
    const hash = curve === "P-256" ? "SHA-256" : curve === "P-384" ? "SHA-384" : "SHA-512";
    return { importAlg: { name: "ECDSA", namedCurve: curve }, signAlg: { name: "ECDSA", hash } as webcrypto.EcdsaParams };
  }
  return { importAlg: { name: "Ed25519" }, signAlg: { name: "Ed25519" } };
}

const KU_FLAGS: Record<string, x509.KeyUsageFlags> = {
  digitalSignature: x509.KeyUsageFlags.digitalSignature,
  contentCommitment: x509.KeyUsageFlags.nonRepudiation,
  keyEncipherment: x509.KeyUsageFlags.keyEncipherment,
  dataEncipherment: x509.KeyUsageFlags.dataEncipherment,
  keyAgreement: x509.KeyUsageFlags.keyAgreement,
  keyCertSign: x509.KeyUsageFlags.keyCertSign,
  cRLSign: x509.KeyUsageFlags.cRLSign,
  encipherOnly: x509.KeyUsageFlags.encipherOnly,
  decipherOnly: x509.KeyUsageFlags.decipherOnly,
};
const EKU_OIDS: Record<string, string> = {
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
  codeSigning: "1.3.6.1.5.5.7.3.3",
  emailProtection: "1.3.6.1.5.5.7.3.4",
  timeStamping: "1.3.6.1.5.5.7.3.8",
  ocspSigning: "1.3.6.1.5.5.7.3.9",
  any: "2.5.29.37.0",
};

/** Builds and signs the PEM CSR for a Certificate with `key`. */
export async function buildCsr(certSpec: CertificateSpec, spec: ResolvedSpec, key: KeyObject): Promise<string> {
  const { importAlg, signAlg } = importAlgorithm(key);
  const privateKey = await webcrypto.subtle.importKey("pkcs8", key.export({ format: "der", type: "pkcs8" }), importAlg, false, ["sign"]);
  const publicKey = await webcrypto.subtle.importKey("spki", createPublicKey(key).export({ format: "der", type: "spki" }), importAlg, true, ["verify"]);
  const subject = subjectFromSpec(certSpec);
  const extensions: x509.Extension[] = [];
  const names: x509.JsonGeneralName[] = [
    ...spec.dnsNames.map((value) => ({ type: "dns" as const, value })),
    ...spec.ipAddresses.map((value) => ({ type: "ip" as const, value })),
    ...spec.uris.map((value) => ({ type: "url" as const, value })),
    ...spec.emailAddresses.map((value) => ({ type: "email" as const, value })),
  ];
  const literal = certSpec.literalSubject !== undefined && certSpec.literalSubject !== "";
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, subject.length === 0 && !literal));
  if (spec.encodeUsagesInRequest) {
    const { keyUsage, extKeyUsage } = usagesToTemplate(spec.usages, spec.isCA);
    const flags = keyUsage.reduce((acc, u) => acc | (KU_FLAGS[u] ?? 0), 0);
    if (flags !== 0) extensions.push(new x509.KeyUsagesExtension(flags, true));
    if (extKeyUsage.length > 0) extensions.push(new x509.ExtendedKeyUsageExtension(extKeyUsage.map((u) => EKU_OIDS[u] ?? u)));
  }
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: literal ? (certSpec.literalSubject as string) : jsonName(subject),
    keys: { privateKey, publicKey } as never,
    signingAlgorithm: signAlg as never,
    extensions,
  });
  return csr.toString("pem");
}

/** What a CSR asks for. */
export interface ParsedCsr {
  readonly spki: Buffer;
  readonly subject: Name;
  readonly subjectDer: Buffer;
  readonly commonName: string | undefined;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly uris: readonly string[];
  readonly emailAddresses: readonly string[];
}

/** Reads a PEM CSR (signature checked); throws when it is not one. */
export async function parseCsr(pem: string): Promise<ParsedCsr> {
  const csr = new x509.Pkcs10CertificateRequest(pem);
  if (!(await csr.verify())) throw new Error("CSR signature does not verify");
  const subject = nameFromPeculiar(csr.subjectName);
  const sanExt = csr.getExtension("2.5.29.17");
  const items: x509.JsonGeneralName[] =
    sanExt === null ? [] : new x509.SubjectAlternativeNameExtension(sanExt.rawData).names.toJSON();
  const pick = (type: string): string[] => items.filter((n) => n.type === type).map((n) => n.value);
  return {
    spki: Buffer.from(csr.publicKey.rawData),
    subject,
    subjectDer: Buffer.from(csr.subjectName.toArrayBuffer()),
    commonName: subject.flat().find((a) => a.type === OID.commonName)?.value,
    dnsNames: pick("dns"),
    ipAddresses: pick("ip"),
    uris: pick("url"),
    emailAddresses: pick("email"),
  };
}

/**
 * The template an in-process issuer signs for a CertificateRequest, as
 * cert-manager's CA issuer builds it: SANs and subject from the CSR; isCA,
 * usages and duration from the request; notBefore = now (no backdating).
 */
export function templateFromRequest(cr: CertificateRequest, csr: ParsedCsr, nowMs: number): CertificateTemplate {
  const isCA = cr.spec.isCA ?? false;
  const usages = cr.spec.usages !== undefined && cr.spec.usages.length > 0 ? cr.spec.usages : ["digital signature", "key encipherment"];
  const { keyUsage, extKeyUsage } = usagesToTemplate(usages, isCA);
  const durationMs = goDurationMs(cr.spec.duration) ?? DEFAULT_DURATION_MS;
  // Second resolution, like Go's x509 encoding of UTCTime/GeneralizedTime.
  const notBefore = Math.floor(nowMs / 1000) * 1000;
  return {
    publicKeySpki: csr.spki,
    subject: csr.subject,
    dnsNames: csr.dnsNames,
    ipAddresses: csr.ipAddresses,
    uris: csr.uris,
    emailAddresses: csr.emailAddresses,
    isCA,
    keyUsage,
    extKeyUsage,
    notBefore: new Date(notBefore),
    notAfter: new Date(notBefore + durationMs),
  };
}

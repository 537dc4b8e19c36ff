/**
 * cert-manager's own CSR tables, translated: pkg/util/pki/csr_test.go
 * (cert-manager/cert-manager). Same inputs, same expected outcome; each case
 * carries the upstream test function and case name. The expected DER is
 * written here with a tiny independent encoder (not src/pki's), from the
 * values Go's encoding/asn1 produces for the upstream `want`.
 *
 * Where meshsign deliberately differs the case stays, asserts meshsign's
 * behaviour and says why in `differs`.
 */
import { spawnSync } from "node:child_process";
import { createPrivateKey, createPublicKey, type KeyObject, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { validateResource } from "../../src/api/index.js";
import { buildCsr } from "../../src/engine/csr.js";
import { generatePrivateKey } from "../../src/engine/keys.js";
import type { Certificate } from "../../src/engine/lib/api.js";
import { resolveSpec, UnknownUsageError, usagesToTemplate } from "../../src/engine/lib/spec.js";
import { CaIssuer } from "../../src/issuers/ca/ca-issuer.js";
import { type ParsedCsr, parseCsr } from "../../src/pki/csr.js";
import {
  type CertificateTemplate,
  decodePemAll,
  encodePem,
  type ExtKeyUsage,
  type KeyUsage,
  parseCertificate,
  publicKeySpki,
  selfSignedSigner,
  signCertificate,
  signerFromCertificate,
} from "../../src/pki/index.js";
import { keyPairSync } from "../lib/key-pair.js";

const UPSTREAM = "cert-manager/cert-manager pkg/util/pki/csr_test.go";

// ---------------------------------------------------------------- an independent DER writer

function len(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  for (let v = n; v > 0; v >>= 8) out.unshift(v & 0xff);
  return [0x80 | out.length, ...out];
}
function tlv(tag: number, ...content: (number[] | Uint8Array)[]): number[] {
  const body = content.flatMap((c) => [...c]);
  return [tag, ...len(body.length), ...body];
}
function oid(dotted: string): number[] {
  const parts = dotted.split(".").map(Number);
  const body: number[] = [40 * (parts[0] as number) + (parts[1] as number)];
  for (const p of parts.slice(2)) {
    const bytes: number[] = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) bytes.unshift(0x80 | (v & 0x7f));
    body.push(...bytes);
  }
  return tlv(0x06, body);
}
const ascii = (s: string): number[] => [...Buffer.from(s, "latin1")];
const printable = (s: string) => tlv(0x13, ascii(s));
const seq = (...c: number[][]) => tlv(0x30, ...c);
/** A SET OF, sorted as DER requires (and Go's encoding/asn1 does). */
const setOf = (...c: number[][]) => tlv(0x31, ...[...c].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
const atv = (type: string, value: string) => seq(oid(type), printable(value));
const rdn = (...atvs: number[][]) => setOf(...atvs);

const CN = "2.5.4.3";
const O = "2.5.4.10";
const OU = "2.5.4.11";

const hex = (b: number[] | Uint8Array) => Buffer.from(b).toString("hex");

type Ext = { oid: string; critical: boolean; value: string };
const KU_DEFAULT: Ext = { oid: "2.5.29.15", critical: true, value: hex(tlv(0x03, [0x05, 0xa0])) }; // digitalSignature, keyEncipherment
const KU_CA: Ext = { oid: "2.5.29.15", critical: true, value: hex(tlv(0x03, [0x02, 0xa4])) }; // + keyCertSign
const eku = (...oids: string[]): Ext => ({ oid: "2.5.29.37", critical: false, value: hex(seq(...oids.map(oid))) });
const san = (critical: boolean, ...names: number[][]): Ext => ({ oid: "2.5.29.17", critical, value: hex(seq(...names)) });
const dnsName = (s: string) => tlv(0x82, ascii(s));
const rfc822 = (s: string) => tlv(0x81, ascii(s));
/** otherName [0] { type-id, [0] EXPLICIT UTF8String }, as the upstream OtherNameSANRawVal builds it. */
const otherName = (type: string, value: string) => tlv(0xa0, oid(type), tlv(0xa0, tlv(0x0c, [...Buffer.from(value, "utf8")])));
const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
const IPSEC_END_SYSTEM = "1.3.6.1.5.5.7.3.5";
const EMPTY_SUBJECT = seq();

/** The NameConstraints value the upstream case spells out byte by byte. */
const UPSTREAM_NAME_CONSTRAINTS = [
  0x30, 0x3e, 0xa0, 0x2e, 0x30, 0xd, 0x82, 0xb, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x6f, 0x72, 0x67, 0x30, 0xa, 0x87, 0x8, 0xa, 0xa,
  0x0, 0x0, 0xff, 0xff, 0x0, 0x0, 0x30, 0x11, 0x81, 0xf, 0x65, 0x6d, 0x61, 0x69, 0x6c, 0x40, 0x65, 0x6d, 0x61, 0x69, 0x6c, 0x2e, 0x6f, 0x72, 0x67,
  0xa1, 0xc, 0x30, 0xa, 0x87, 0x8, 0xa, 0xa, 0x0, 0x0, 0xff, 0xff, 0xff, 0x0,
];

// ---------------------------------------------------------------- helpers

const rsa2048: KeyObject = keyPairSync("rsa", { modulusLength: 2048 }).privateKey;

function spec(s: Partial<Certificate["spec"]>): Certificate["spec"] {
  return { secretName: "s", issuerRef: { name: "i" }, ...s };
}

function extensions(csr: ParsedCsr): Ext[] {
  return csr.extensions.map((e) => ({ oid: e.oid, critical: e.critical, value: hex(e.value) }));
}

/** The upstream test also parses each generated CSR with Go; openssl is the independent parser here. */
function opensslVerifies(pem: string): boolean {
  const r = spawnSync("openssl", ["req", "-noout", "-verify"], { input: pem, encoding: "utf8" });
  return r.status === 0 && `${r.stdout}${r.stderr}`.includes("verify OK");
}

// ---------------------------------------------------------------- TestKeyUsagesForCertificate

describe(`${UPSTREAM} TestKeyUsagesForCertificate`, () => {
  const cases: [string, string[], boolean, KeyUsage[] | "error", ExtKeyUsage[]][] = [
    ["default", [], false, ["digitalSignature", "keyEncipherment"], []],
    ["isCa", [], true, ["digitalSignature", "keyEncipherment", "keyCertSign"], []],
    ["existing keyusage", ["crl sign"], false, ["cRLSign"], []],
    ["nonexistent keyusage error", ["nonexistent"], false, "error", []],
    ["duplicate keyusage", ["signing", "signing"], false, ["digitalSignature"], []],
    ["existing extkeyusage", ["server auth"], false, [], ["serverAuth"]],
    ["duplicate extkeyusage", ["s/mime", "s/mime"], false, [], ["emailProtection", "emailProtection"]],
  ];
  it.each(cases)("%s", (_name, usages, isCA, keyUsage, extKeyUsage) => {
    if (keyUsage === "error") {
      expect(() => usagesToTemplate(usages, isCA)).toThrow(UnknownUsageError);
      return;
    }
    expect(usagesToTemplate(usages, isCA)).toEqual({ keyUsage, extKeyUsage });
  });
});

// ---------------------------------------------------------------- TestSignatureAlgorithmForCertificate

describe(`${UPSTREAM} TestSignatureAlgorithmForCertificate`, () => {
  type Want = { keyType: "rsa" | "ecdsa" | "ed25519"; hash?: string; differs?: string } | "error";
  const cases: [string, string, number, Want][] = [
    ["certificate with KeyAlgorithm rsa and size 1024", "RSA", 1024, "error"],
    ["certificate with KeyAlgorithm rsa and no size set should default to rsa256", "RSA", 0, { keyType: "rsa", hash: "sha256" }],
    ["certificate with KeyAlgorithm not set", "", 0, { keyType: "rsa", hash: "sha256" }],
    ["certificate with KeyAlgorithm rsa and size 2048", "RSA", 2048, { keyType: "rsa", hash: "sha256" }],
    [
      "certificate with KeyAlgorithm rsa and size 3072",
      "RSA",
      3072,
      { keyType: "rsa", hash: "sha256", differs: "upstream signs with SHA384WithRSA; meshsign signs every RSA request and certificate with SHA-256, as Istio's CA does, which every verifier supports" },
    ],
    [
      "certificate with KeyAlgorithm rsa and size 4096",
      "RSA",
      4096,
      { keyType: "rsa", hash: "sha256", differs: "upstream signs with SHA512WithRSA; meshsign uses SHA-256 for every RSA key (see the 3072 case)" },
    ],
    ["certificate with ecdsa key algorithm set and no key size default to ecdsa256", "ECDSA", 0, { keyType: "ecdsa", hash: "sha256" }],
    ["certificate with KeyAlgorithm ecdsa and size 256", "ECDSA", 256, { keyType: "ecdsa", hash: "sha256" }],
    ["certificate with KeyAlgorithm ecdsa and size 384", "ECDSA", 384, { keyType: "ecdsa", hash: "sha384" }],
    ["certificate with KeyAlgorithm ecdsa and size 521", "ECDSA", 521, { keyType: "ecdsa", hash: "sha512" }],
    ["certificate with KeyAlgorithm Ed25519", "Ed25519", 0, { keyType: "ed25519" }],
    ["certificate with KeyAlgorithm ecdsa and size 100", "ECDSA", 100, "error"],
    ["certificate with KeyAlgorithm set to unknown key algo", "blah", 0, "error"],
  ];
  it.each(cases)("%s", async (_name, algorithm, size, want) => {
    const privateKey = { ...(algorithm === "" ? {} : { algorithm }), ...(size === 0 ? {} : { size }) };
    const s = spec({ commonName: "x", privateKey: privateKey as Certificate["spec"]["privateKey"] });
    const validation = validateResource({ apiVersion: "cert-manager.io/v1", kind: "Certificate", metadata: { name: "c", namespace: "n" }, spec: s });
    if (want === "error") {
      // meshsign refuses such a key spec at admission (the webhook refuses it too) and never generates it.
      expect(validation.ok).toBe(false);
      if (algorithm !== "blah") await expect(generatePrivateKey({ keyAlgorithm: algorithm as "RSA" | "ECDSA", keySize: size } as never)).rejects.toThrow();
      return;
    }
    expect(validation.ok ? [] : validation.errors).toEqual([]);
    const resolved = resolveSpec(s);
    const key = await generatePrivateKey({ keyAlgorithm: resolved.keyAlgorithm, keySize: resolved.keySize } as never);
    const csr = parseCsr(buildCsr(s, resolved, key));
    const sig = csr.signatureAlgorithm;
    if (want.keyType === "rsa") expect(sig).toEqual({ kind: "rsa-pkcs1", hash: want.hash });
    else if (want.keyType === "ecdsa") expect(sig).toEqual({ kind: "ecdsa", hash: want.hash });
    else expect(sig).toEqual({ kind: "ed25519" });
    if (want.keyType === "rsa") expect(key.asymmetricKeyDetails?.modulusLength).toBe(size === 0 ? 2048 : size);
  });
});

// ---------------------------------------------------------------- TestGenerateCSR

describe(`${UPSTREAM} TestGenerateCSR`, () => {
  const literal = "CN=actual-cn, OU=FooLong, OU=Bar, O=example.org";
  const multiValued = "CN=actual-cn, OU=FooLong+OU=Bar, O=example.org";
  type Want = { subject: number[]; extensions: Ext[]; differs?: string } | "error";
  const cases: [string, Partial<Certificate["spec"]>, Want][] = [
    ["Generate CSR from certificate with only DNS", { dnsNames: ["example.org"] }, { subject: EMPTY_SUBJECT, extensions: [san(true, dnsName("example.org")), KU_DEFAULT] }],
    [
      "Generate CSR from certificate with subject and DNS",
      { subject: { organizations: ["example inc."] }, dnsNames: ["example.org"] },
      { subject: seq(rdn(atv(O, "example inc."))), extensions: [san(false, dnsName("example.org")), KU_DEFAULT] },
    ],
    ["Generate CSR from certificate with only CN", { commonName: "example.org" }, { subject: seq(rdn(atv(CN, "example.org"))), extensions: [KU_DEFAULT] }],
    ["Generate CSR from certificate with isCA set", { commonName: "example.org", isCA: true }, { subject: seq(rdn(atv(CN, "example.org"))), extensions: [KU_CA] }],
    [
      "Generate CSR from certificate with isCA not set and with UseCertificateRequestBasicConstraints flag enabled",
      { commonName: "example.org" },
      {
        subject: seq(rdn(atv(CN, "example.org"))),
        extensions: [KU_DEFAULT],
        differs: "the alpha gate UseCertificateRequestBasicConstraints (off by default upstream) does not exist in meshsign: no BasicConstraints in the CSR; the issuer sets CA:false from the request",
      },
    ],
    [
      "Generate CSR from certificate with isCA set and with UseCertificateRequestBasicConstraints flag enabled",
      { commonName: "example.org", isCA: true },
      { subject: seq(rdn(atv(CN, "example.org"))), extensions: [KU_CA], differs: "as above: the issuer sets CA:true from the request's isCA, not from a CSR BasicConstraints" },
    ],
    [
      "Generate CSR from certificate with extended key usages",
      { commonName: "example.org", usages: ["digital signature", "key encipherment", "ipsec end system"] },
      { subject: seq(rdn(atv(CN, "example.org"))), extensions: [KU_DEFAULT, eku(IPSEC_END_SYSTEM)] },
    ],
    [
      "Generate CSR from certificate with a single otherNameSAN set to an oid (UPN)",
      { otherNames: [{ oid: "1.3.6.1.4.1.311.20.2.3", utf8Value: "user@example.org" }] },
      { subject: EMPTY_SUBJECT, extensions: [san(true, otherName("1.3.6.1.4.1.311.20.2.3", "user@example.org")), KU_DEFAULT] },
    ],
    [
      "Generate CSR from certificate with multiple valid otherName oids and emailSANs set",
      {
        emailAddresses: ["user@example.org", "alt-email@example.org"],
        otherNames: [
          { oid: "1.3.6.1.4.1.311.20.2.3", utf8Value: "user@example.org" },
          { oid: "1.2.840.113556.1.4.221", utf8Value: "user@example.org" },
        ],
      },
      {
        subject: EMPTY_SUBJECT,
        extensions: [
          san(true, rfc822("user@example.org"), rfc822("alt-email@example.org"), otherName("1.3.6.1.4.1.311.20.2.3", "user@example.org"), otherName("1.2.840.113556.1.4.221", "user@example.org")),
          KU_DEFAULT,
        ],
      },
    ],
    ["Generate CSR from certificate with malformed otherName oid type", { otherNames: [{ oid: "NOTANOID@garbage", utf8Value: "user@example.org" }] }, "error"],
    [
      "Generate CSR from certificate with double signing key usages",
      { commonName: "example.org", usages: ["digital signature", "key encipherment", "signing"] },
      { subject: seq(rdn(atv(CN, "example.org"))), extensions: [KU_DEFAULT] },
    ],
    ["Error on generating CSR from certificate with no subject", {}, "error"],
    [
      "Generate CSR from certificate with literal subject honouring the exact order",
      { literalSubject: literal },
      { subject: seq(rdn(atv(O, "example.org")), rdn(atv(OU, "Bar")), rdn(atv(OU, "FooLong")), rdn(atv(CN, "actual-cn"))), extensions: [KU_DEFAULT] },
    ],
    [
      "Generate CSR from certificate with literal multi value subject honouring the exact order",
      { literalSubject: multiValued },
      { subject: seq(rdn(atv(O, "example.org")), rdn(atv(OU, "FooLong"), atv(OU, "Bar")), rdn(atv(CN, "actual-cn"))), extensions: [KU_DEFAULT] },
    ],
    [
      "Error on generating CSR from certificate without CommonName in LiteralSubject, uri names, email address, ip addresses or otherName set",
      { literalSubject: "O=EmptyOrg" },
      "error",
    ],
    ["KeyUsages and ExtendedKeyUsages: no usages set", { dnsNames: ["example.org"] }, { subject: EMPTY_SUBJECT, extensions: [san(true, dnsName("example.org")), KU_DEFAULT] }],
    [
      "KeyUsages and ExtendedKeyUsages: client auth extended usage set",
      { dnsNames: ["example.org"], usages: ["digital signature", "key encipherment", "client auth"] },
      { subject: EMPTY_SUBJECT, extensions: [san(true, dnsName("example.org")), KU_DEFAULT, eku(CLIENT_AUTH)] },
    ],
    [
      "KeyUsages and ExtendedKeyUsages: server + client auth extended usage set",
      { dnsNames: ["example.org"], usages: ["digital signature", "key encipherment", "server auth", "client auth"] },
      { subject: EMPTY_SUBJECT, extensions: [san(true, dnsName("example.org")), KU_DEFAULT, eku(SERVER_AUTH, CLIENT_AUTH)] },
    ],
    [
      "Generate CSR from certificate with NameConstraints flag enabled",
      {
        commonName: "example.org",
        isCA: true,
        nameConstraints: {
          critical: true,
          permitted: { dnsDomains: ["example.org"], ipRanges: ["10.10.0.0/16"], emailAddresses: ["email@email.org"] },
          excluded: { ipRanges: ["10.10.0.0/24"] },
        },
      },
      { subject: seq(rdn(atv(CN, "example.org"))), extensions: [KU_CA, { oid: "2.5.29.30", critical: true, value: hex(UPSTREAM_NAME_CONSTRAINTS) }] },
    ],
  ];

  it.each(cases)("%s", (_name, patch, want) => {
    const s = spec(patch);
    if (want === "error") {
      expect(() => buildCsr(s, resolveSpec(s), rsa2048)).toThrow();
      return;
    }
    const pem = buildCsr(s, resolveSpec(s), rsa2048);
    const csr = parseCsr(pem);
    expect(csr.signatureAlgorithm).toEqual({ kind: "rsa-pkcs1", hash: "sha256" }); // SHA256WithRSA, RSA
    expect(hex(csr.subjectDer)).toBe(hex(want.subject));
    expect(extensions(csr)).toEqual(want.extensions);
    expect(opensslVerifies(pem)).toBe(true);
  });
});

// ---------------------------------------------------------------- TestSignCSRTemplate

describe(`${UPSTREAM} TestSignCSRTemplate`, () => {
  // Upstream builds root -> int1 -> int2 -> leaf (ECDSA P-256) and signs each template with SignCSRTemplate;
  // meshsign's counterpart is the CA issuer given the same CA certificates (tls.crt) and key.
  const now = Date.now();
  const ec = () => keyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  const pemKey = (k: KeyObject) => k.export({ format: "pem", type: "pkcs8" }).toString();
  const template = (k: KeyObject, name: string, isCA: boolean): CertificateTemplate => ({
    publicKeySpki: publicKeySpki(k),
    subject: [[{ type: CN, value: name }]],
    isCA,
    keyUsage: isCA ? ["digitalSignature", "keyEncipherment", "keyCertSign"] : ["digitalSignature", "keyEncipherment"],
    extKeyUsage: [],
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 3_600_000),
  });
  const rootKey = ec();
  const int1Key = ec();
  const int2Key = ec();
  const leafKey = ec();
  const rootT = template(rootKey, "root", true);
  const root = encodePem("CERTIFICATE", signCertificate(rootT, selfSignedSigner(rootT, rootKey)));
  const issue = (t: CertificateTemplate, caPem: string, caKey: KeyObject) => encodePem("CERTIFICATE", signCertificate(t, signerFromCertificate(decodePemAll(caPem, "CERTIFICATE")[0] as Uint8Array, caKey)));
  const int1T = template(int1Key, "int1", true);
  const int1 = issue(int1T, root, rootKey);
  const int2T = template(int2Key, "int2", true);
  const int2 = issue(int2T, int1, int1Key);
  const leafT = template(leafKey, "leaf", false);
  const subjects = (pems: readonly string[]) => pems.map((p) => new X509Certificate(p).subject);

  // Upstream compares the chain only by its first certificate's subject when the bytes differ; the full chain
  // asserted here is what cert-manager's ParseSingleCertificateChain returns (a self-signed root is left out
  // of the chain and is the CA; a top certificate that is not self-signed stays in the chain and is the CA).
  const cases: [string, string[], KeyObject, CertificateTemplate, string[] | "error", string][] = [
    ["Sign intermediate 1 template", [root], rootKey, int1T, ["CN=int1"], "CN=root"],
    ["Sign intermediate 2 template", [int1, root], int1Key, int2T, ["CN=int2", "CN=int1"], "CN=root"],
    ["Sign leaf template", [int2, int1, root], int2Key, leafT, ["CN=leaf", "CN=int2", "CN=int1"], "CN=root"],
    ["Sign leaf template no root", [int2, int1], int2Key, leafT, ["CN=leaf", "CN=int2", "CN=int1"], "CN=int1"],
    ["Error on no CA", [], rootKey, rootT, "error", ""],
  ];
  it.each(cases)("%s", async (_name, caCerts, caKey, t, chain, ca) => {
    const issuer = await CaIssuer.create({ certificatePem: caCerts.join(""), privateKeyPem: pemKey(caKey), origin: "test" });
    if (chain === "error") {
      expect(issuer.status().ready).toBe(false);
      await expect(issuer.sign({ requestId: "t/1", csrPem: "", template: t })).rejects.toThrow();
      return;
    }
    const result = await issuer.sign({ requestId: "t/1", csrPem: "", template: t });
    if (result.status !== "issued") throw new Error("expected issued");
    expect(subjects(result.chain)).toEqual(chain);
    expect(subjects([result.ca ?? ""])).toEqual([ca]);
  });
});

// ---------------------------------------------------------------- Test_SignCertificate_Signatures

describe(`${UPSTREAM} Test_SignCertificate_Signatures`, () => {
  // RSA 8192 takes 15 s or more to generate on a loaded 2-core machine: a test-only key is kept as a fixture.
  const rsa8192 = createPrivateKey(readFileSync(new URL("./fixtures/rsa-8192-test-only.key.pem", import.meta.url), "utf8"));
  const rsa = (bits: number) => keyPairSync("rsa", { modulusLength: bits }).privateKey;
  const ecdsa = (curve: string) => keyPairSync("ec", { namedCurve: curve }).privateKey;
  const sha256Differs = "upstream picks SHA-384/SHA-512 for RSA keys of 3072 bits and more; meshsign signs with SHA-256 at every RSA size, as Istio's CA does";
  type Want = { kind: string; hash?: string; differs?: string } | RegExp;
  const cases: [string, () => KeyObject, Want][] = [
    ["RSA 2048", () => rsa(2048), { kind: "rsa-pkcs1", hash: "sha256" }],
    ["RSA 3072", () => rsa(3072), { kind: "rsa-pkcs1", hash: "sha256", differs: sha256Differs }],
    ["RSA 4096", () => rsa(4096), { kind: "rsa-pkcs1", hash: "sha256", differs: sha256Differs }],
    ["RSA 8192", () => rsa8192, { kind: "rsa-pkcs1", hash: "sha256", differs: sha256Differs }],
    ["RSA 1024 should error", () => rsa(1024), /RSA signing key has 1024 bits; at least 2048 are required/],
    ["ECDSA P-224 should error", () => ecdsa("P-224"), /signing key type is not supported/],
    ["ECDSA P-256", () => ecdsa("P-256"), { kind: "ecdsa", hash: "sha256" }],
    ["ECDSA P-384", () => ecdsa("P-384"), { kind: "ecdsa", hash: "sha384" }],
    ["ECDSA P-521", () => ecdsa("P-521"), { kind: "ecdsa", hash: "sha512" }],
    ["Ed25519", () => keyPairSync("ed25519").privateKey, { kind: "ed25519" }],
  ];
  it.each(cases)("%s", (_name, signerKey, want) => {
    // As upstream: a template named CN=abc123 with an Ed25519 leaf key, signed by the key under test.
    const leaf = keyPairSync("ed25519").privateKey;
    const template: CertificateTemplate = {
      publicKeySpki: publicKeySpki(leaf),
      subject: [[{ type: CN, value: "abc123" }]],
      dnsNames: ["example.com"],
      isCA: false,
      keyUsage: [],
      extKeyUsage: [],
      notBefore: new Date(0),
      notAfter: new Date(3_600_000),
    };
    const signer = { privateKey: signerKey(), issuerName: new Uint8Array(seq(rdn(atv(CN, "abc123")))) };
    if (want instanceof RegExp) {
      expect(() => signCertificate(template, signer)).toThrow(want);
      return;
    }
    const cert = parseCertificate(signCertificate(template, signer));
    expect(cert.signatureAlgorithm).toEqual(want.kind === "ed25519" ? { kind: "ed25519" } : { kind: want.kind, hash: want.hash });
    expect(cert.verifySignature(createPublicKey(signer.privateKey))).toBe(true);
  });
});

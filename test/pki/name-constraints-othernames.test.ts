import { X509Certificate } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { parseCertificate } from "../../src/pki/certificate.js";
import { parseCsr } from "../../src/pki/csr.js";
import { readNameConstraints, readUtf8OtherNames } from "../../src/pki/extension-values.js";
import { buildCsr, publicKeySpki } from "../../src/pki/keys.js";
import { encodePem } from "../../src/pki/pem.js";
import { selfSignedSigner, signCertificate, signerFromCertificate } from "../../src/pki/sign.js";
import type { CertificateTemplate, ExtKeyUsage, NameConstraints } from "../../src/pki/template.js";
import { key, openssl, opensslStatus, TempDir } from "./helpers.js";

const tmp = new TempDir();
afterAll(() => tmp.remove());

const NOW = new Date("2026-01-01T00:00:00Z");
const LATER = new Date("2027-01-01T00:00:00Z");
const CN = "2.5.4.3";

const CONSTRAINTS: NameConstraints = {
  critical: true,
  permitted: {
    dnsDomains: ["example.org"],
    ipRanges: ["10.10.0.0/16", "fd00::/8"],
    emailAddresses: ["example.org"],
    uriDomains: [".example.org"],
  },
  excluded: { dnsDomains: ["bad.example.org"], ipRanges: ["10.10.0.0/24"] },
};

const caKey = key({ type: "ec", curve: "P-256" }, "nc-ca");
const leafKey = key({ type: "ec", curve: "P-256" }, "nc-leaf");

function caTemplate(nc: NameConstraints | undefined): CertificateTemplate {
  return {
    publicKeySpki: publicKeySpki(caKey),
    subject: [[{ type: CN, value: "constrained root" }]],
    isCA: true,
    keyUsage: ["digitalSignature", "keyCertSign"],
    extKeyUsage: [],
    notBefore: NOW,
    notAfter: LATER,
    ...(nc === undefined ? {} : { nameConstraints: nc }),
  };
}

const caT = caTemplate(CONSTRAINTS);
const caDer = signCertificate(caT, selfSignedSigner(caT, caKey));
const caPem = encodePem("CERTIFICATE", caDer);
const caFile = tmp.write("ca.pem", caPem);

function leaf(names: Partial<CertificateTemplate>): string {
  const t: CertificateTemplate = {
    publicKeySpki: publicKeySpki(leafKey),
    subject: [],
    isCA: false,
    keyUsage: ["digitalSignature"],
    extKeyUsage: ["serverAuth"],
    notBefore: NOW,
    notAfter: LATER,
    ...names,
  };
  return encodePem("CERTIFICATE", signCertificate(t, signerFromCertificate(caDer, caKey)));
}

function verify(pem: string): { status: number; output: string } {
  const f = tmp.write(`leaf-${Math.random().toString(36).slice(2)}.pem`, pem);
  return opensslStatus(["verify", "-attime", String(NOW.getTime() / 1000 + 3600), "-CAfile", caFile, f]);
}

describe("NameConstraints on a CA certificate", () => {
  it("are what openssl reads: critical, every permitted and excluded subtree", () => {
    const text = openssl(["x509", "-noout", "-text"], caPem);
    expect(text).toMatch(/X509v3 Name Constraints: critical\n\s+Permitted:\n\s+DNS:example\.org\n\s+IP:10\.10\.0\.0\/255\.255\.0\.0\n\s+IP:FD00:0:0:0:0:0:0:0\/FF00:0:0:0:0:0:0:0\n\s+email:example\.org\n\s+URI:\.example\.org\n\s+Excluded:\n\s+DNS:bad\.example\.org\n\s+IP:10\.10\.0\.0\/255\.255\.255\.0\n/);
  });

  it("parse in node's X509Certificate and read back to what was asked", () => {
    const x = new X509Certificate(caPem);
    expect(x.ca).toBe(true);
    expect(readNameConstraints(parseCertificate(caDer).extensions)).toEqual(CONSTRAINTS);
  });

  it("let openssl verify a leaf inside the permitted subtrees", () => {
    const ok = verify(leaf({ dnsNames: ["www.example.org"], ipAddresses: ["10.10.7.1"] }));
    expect(ok.output).toContain("OK");
    expect(ok.status).toBe(0);
  });

  it.each([
    ["a DNS name outside the permitted domain", { dnsNames: ["www.example.com"] }],
    ["a DNS name in the excluded domain", { dnsNames: ["x.bad.example.org"] }],
    ["an IP address in the excluded range", { ipAddresses: ["10.10.0.9"] }],
    ["an IP address outside the permitted ranges", { ipAddresses: ["192.168.1.1"] }],
    ["an email address of another domain", { emailAddresses: ["root@example.com"] }],
  ])("make openssl refuse a leaf with %s", (_name, names) => {
    const bad = verify(leaf(names));
    expect(bad.status).not.toBe(0);
    expect(bad.output).toMatch(/subtree violation/);
  });

  it("are carried from a CSR and keep their criticality (false here)", () => {
    const nc: NameConstraints = { critical: false, excluded: { dnsDomains: ["internal"] } };
    const csr = parseCsr(buildCsr(caKey, { subject: [[{ type: CN, value: "x" }]], nameConstraints: nc }));
    expect(readNameConstraints(csr.extensions)).toEqual(nc);
    expect(csr.extensions.find((e) => e.oid === "2.5.29.30")?.critical).toBe(false);
  });

  it("are refused on a certificate that is not a CA, never dropped", () => {
    expect(() => leaf({ dnsNames: ["a.example.org"], nameConstraints: CONSTRAINTS })).toThrow(/only allowed on CA certificates/);
  });

  it("are refused when malformed or empty, never dropped", () => {
    const t = caTemplate({ critical: true, permitted: { ipRanges: ["10.0.0.0/33"] } });
    expect(() => signCertificate(t, selfSignedSigner(t, caKey))).toThrow(/invalid CIDR range/);
    const empty = caTemplate({ critical: true, permitted: {} });
    expect(() => signCertificate(empty, selfSignedSigner(empty, caKey))).toThrow(/at least one permitted or excluded subtree/);
  });

  it("mask the address to its prefix, as Go's ParseCIDR does", () => {
    const t = caTemplate({ critical: false, permitted: { ipRanges: ["10.10.3.4/16"] } });
    const der = signCertificate(t, selfSignedSigner(t, caKey));
    expect(readNameConstraints(parseCertificate(der).extensions)?.permitted?.ipRanges).toEqual(["10.10.0.0/16"]);
  });
});

describe("otherName SANs", () => {
  const others = [
    { oid: "1.3.6.1.4.1.311.20.2.3", value: "user@example.org" },
    { oid: "1.2.840.113556.1.4.221", value: "ü-user" },
  ];

  it("are written into a CSR after the other names, and read back", () => {
    const pem = buildCsr(leafKey, { subject: [], emailAddresses: ["user@example.org"], otherNames: others });
    const csr = parseCsr(pem);
    expect(csr.otherNames).toBe(2);
    expect(readUtf8OtherNames(csr.extensions)).toEqual(others);
    const text = openssl(["req", "-noout", "-text"], pem);
    expect(text).toMatch(/email:user@example\.org, othername: UPN::user@example\.org, othername: 1\.2\.840\.113556\.1\.4\.221::ü-user/);
  });

  it("are written into a certificate that node and openssl read", () => {
    const pem = leaf({ dnsNames: ["a.example.org"], otherNames: [others[0] as (typeof others)[number]] });
    expect(new X509Certificate(pem).subjectAltName).toContain("DNS:a.example.org");
    expect(openssl(["x509", "-noout", "-ext", "subjectAltName"], pem)).toMatch(/DNS:a\.example\.org, othername: UPN::user@example\.org/);
  });

  it("refuse a malformed OID", () => {
    expect(() => buildCsr(leafKey, { subject: [], otherNames: [{ oid: "NOTANOID@garbage", value: "x" }] })).toThrow(/invalid otherName OID/);
  });
});

describe("extended key usages", () => {
  const all: ExtKeyUsage[] = [
    "any",
    "serverAuth",
    "clientAuth",
    "codeSigning",
    "emailProtection",
    "ipsecEndSystem",
    "ipsecTunnel",
    "ipsecUser",
    "timeStamping",
    "ocspSigning",
    "microsoftServerGatedCrypto",
    "netscapeServerGatedCrypto",
  ];

  it("every one cert-manager accepts is encoded in a CSR and a certificate, as openssl names them", () => {
    const csr = buildCsr(leafKey, { subject: [[{ type: CN, value: "x" }]], extKeyUsage: all });
    const cert = leaf({ dnsNames: ["a.example.org"], extKeyUsage: all });
    const want =
      /Any Extended Key Usage, TLS Web Server Authentication, TLS Web Client Authentication, Code Signing, E-mail Protection, IPSec End System, IPSec Tunnel, IPSec User, Time Stamping, OCSP Signing, Microsoft Server Gated Crypto, Netscape Server Gated Crypto/;
    expect(openssl(["req", "-noout", "-text"], csr)).toMatch(want);
    expect(openssl(["x509", "-noout", "-text"], cert)).toMatch(want);
    expect(parseCsr(csr).extKeyUsage).toEqual(all);
  });
});

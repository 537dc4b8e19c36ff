import { execFileSync } from "node:child_process";
import type { KeyObject } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { buildCsr, parseCsr, templateFromRequest } from "../../src/engine/csr.js";
import type { Certificate, CertificateRequest } from "../../src/engine/lib/api.js";
import { resolveSpec } from "../../src/engine/lib/spec.js";
import { certInfo, formatName } from "../../src/engine/lib/x509-info.js";
import { requestMismatches } from "../../src/engine/match.js";
import { CaIssuer } from "../../src/issuers/ca/ca-issuer.js";
import { SelfSignedIssuer } from "../../src/issuers/selfsigned/selfsigned-issuer.js";
import { buildCsr as buildPkcs10, encodePem, selfSignedSigner, signCertificate } from "../../src/pki/index.js";
import { certificate } from "./lib/builders.js";
import { tempDirs } from "../lib/temp-dir.js";
import { keyPairSync } from "../lib/key-pair.js";

/** Scratch directories of this file, removed after its tests. */
const tempDir = tempDirs();

const keys: Record<string, KeyObject> = {
  "RSA 2048": keyPairSync("rsa", { modulusLength: 2048 }).privateKey,
  "ECDSA P-384": keyPairSync("ec", { namedCurve: "P-384" }).privateKey,
  Ed25519: keyPairSync("ed25519").privateKey,
};

function requestFor(cert: Certificate, csrPem: string): CertificateRequest {
  const spec = resolveSpec(cert.spec);
  return {
    apiVersion: "cert-manager.io/v1",
    kind: "CertificateRequest",
    metadata: { name: `${cert.metadata.name}-1`, namespace: cert.metadata.namespace },
    spec: { request: Buffer.from(csrPem).toString("base64"), issuerRef: spec.issuerRef, isCA: spec.isCA, usages: [...spec.usages] },
  };
}

function opensslText(pem: string): string {
  return execFileSync("openssl", ["req", "-noout", "-text", "-verify", "-nameopt", "sep_comma_plus_space"], { input: pem, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
}

type Case = [string, Partial<Certificate["spec"]>, { subject: RegExp; san?: RegExp; sanCritical?: boolean; ku?: RegExp; eku?: RegExp }];
const cases: Case[] = [
  [
    "a gateway certificate with a common name, subject fields, DNS and IP names",
    { commonName: "www.example.com", dnsNames: ["www.example.com", "example.com"], ipAddresses: ["10.1.2.3"], subject: { organizations: ["Example"], countries: ["GB"] } },
    { subject: /Subject: C=GB, O=Example, CN=www\.example\.com\n/, san: /DNS:www\.example\.com, DNS:example\.com, IP Address:10\.1\.2\.3/, sanCritical: false, ku: /Digital Signature, Key Encipherment/ },
  ],
  [
    "a certificate whose subject fields hold several values (one multi-valued RDN each, as Go's pkix.Name writes them)",
    { commonName: "multi", dnsNames: ["multi.example.com"], subject: { organizations: ["b-org", "a-org"], organizationalUnits: ["ops"], countries: ["GB", "DE"], serialNumber: "42" } },
    { subject: /Subject: (C=GB \+ C=DE|C=DE \+ C=GB), (O=b-org \+ O=a-org|O=a-org \+ O=b-org), OU=ops, CN=multi, serialNumber=42\n/, san: /DNS:multi\.example\.com/, sanCritical: false, ku: /Digital Signature, Key Encipherment/ },
  ],
  [
    "a workload certificate with only a URI (empty subject, so the SAN is critical)",
    { dnsNames: undefined, uris: ["spiffe://cluster.local/ns/a/sa/b"], usages: ["client auth", "digital signature"] },
    { subject: /Subject: ?\n/, san: /URI:spiffe:\/\/cluster\.local\/ns\/a\/sa\/b/, sanCritical: true, ku: /Digital Signature\n/, eku: /TLS Web Client Authentication/ },
  ],
  [
    "a CA certificate, whose usages gain certificate signing",
    { commonName: "intermediate", dnsNames: undefined, isCA: true, usages: ["cert sign", "crl sign"] },
    { subject: /Subject: CN=intermediate\n/, ku: /Certificate Sign, CRL Sign/ },
  ],
  [
    "a certificate with a literal subject, written last RDN first (RFC 4514) so encoded in reverse",
    { literalSubject: "CN=literal.example.com,OU=Platform+O=Example,C=DE", dnsNames: ["literal.example.com"] },
    { subject: /Subject: C=DE, (O=Example \+ OU=Platform|OU=Platform \+ O=Example), CN=literal\.example\.com\n/, san: /DNS:literal\.example\.com/, sanCritical: false, ku: /Digital Signature, Key Encipherment/ },
  ],
  [
    "a certificate that asks not to encode its usages in the request",
    { commonName: "plain", dnsNames: ["plain.example.com"], encodeUsagesInRequest: false },
    { subject: /Subject: CN=plain\n/, san: /DNS:plain\.example\.com/ },
  ],
];

describe("the engine's CSR", () => {
  for (const [keyName, key] of Object.entries(keys)) {
    it.each(cases)(`for %s (${keyName}) is what openssl reads, and matches its own spec`, (_name, specPatch, want) => {
      const cert = certificate("web", "apps", specPatch);
      const spec = resolveSpec(cert.spec);
      const pem = buildCsr(cert.spec, spec, key);
      const text = opensslText(pem);
      expect(text).toMatch(want.subject);
      if (want.san === undefined) expect(text).not.toContain("Subject Alternative Name");
      else {
        expect(text).toMatch(want.san);
        expect(text).toContain(`X509v3 Subject Alternative Name: ${want.sanCritical ? "critical" : ""}`.trimEnd());
        if (want.sanCritical === false) expect(text).not.toContain("X509v3 Subject Alternative Name: critical");
      }
      if (want.ku === undefined) expect(text).not.toContain("X509v3 Key Usage");
      else expect(text).toMatch(want.ku);
      if (want.eku !== undefined) expect(text).toMatch(want.eku);
      // Reading the request back must not look like a spec change (that would re-issue for ever).
      const parsed = parseCsr(pem);
      expect(requestMismatches(requestFor(cert, pem), parsed, cert.spec, spec)).toEqual([]);
    });
  }

  const changes: [string, Partial<Certificate["spec"]>, string[]][] = [
    ["the common name changed", { commonName: "other.example.com" }, ["spec.commonName"]],
    ["a DNS name was added", { dnsNames: ["www.example.com", "example.com", "new.example.com"] }, ["spec.dnsNames"]],
    ["the literal subject changed", { literalSubject: "CN=www.example.com,O=Other" }, ["spec.literalSubject"]],
    ["the organization changed", { subject: { organizations: ["Other"] } }, ["spec.subject.organizations"]],
  ];
  it.each(changes)("reports the field that differs when %s", (_name, patch, fields) => {
    const base = certificate("web", "apps", { commonName: "www.example.com", dnsNames: ["www.example.com", "example.com"], subject: { organizations: ["Example"] } });
    const key = keys["ECDSA P-384"] as KeyObject;
    const pem = buildCsr(base.spec, resolveSpec(base.spec), key);
    const changedSpec: Certificate["spec"] = { ...base.spec, ...patch };
    if ("literalSubject" in patch) {
      delete changedSpec.commonName;
      delete changedSpec.subject;
    }
    const fields2 = requestMismatches(requestFor(base, pem), parseCsr(pem), changedSpec, resolveSpec(changedSpec));
    for (const f of fields) expect(fields2).toContain(f);
  });

  it("refuses a CSR whose signature does not verify", () => {
    const cert = certificate("web", "apps");
    const pem = buildCsr(cert.spec, resolveSpec(cert.spec), keys.Ed25519 as KeyObject);
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64");
    der[der.length - 1] = (der[der.length - 1] ?? 0) ^ 1; // flip a signature bit
    expect(() => parseCsr(encodePem("CERTIFICATE REQUEST", der))).toThrow();
  });

  it("remembers what a CSR it built asks for exactly as reading it back in full gives, for every key type", () => {
    for (const key of Object.values(keys)) {
      const cert = certificate("web", "apps", { commonName: "web", dnsNames: ["web.apps.svc"], ipAddresses: ["10.0.0.1", "2001:db8::1"], uris: ["spiffe://cluster.local/ns/apps/sa/web"] });
      const pem = buildCsr(cert.spec, resolveSpec(cert.spec), key);
      const remembered = parseCsr(pem);
      // The same DER in a PEM that differs by a byte is read and verified in full, not remembered.
      const read = parseCsr(`${pem}\n`);
      expect(read).not.toBe(remembered);
      expect(remembered).toEqual(read);
    }
  });

  it("turns a request into a template with the request's usages and duration and the CSR's names", () => {
    const cert = certificate("web", "apps", { commonName: "web", dnsNames: ["web.apps.svc"], usages: ["server auth", "digital signature"], duration: "2h" });
    const pem = buildCsr(cert.spec, resolveSpec(cert.spec), keys["RSA 2048"] as KeyObject);
    const cr = { ...requestFor(cert, pem), spec: { ...requestFor(cert, pem).spec, duration: "2h" } };
    const t = templateFromRequest(cr, parseCsr(pem), Date.parse("2026-01-01T00:00:00.750Z"));
    expect(t).toMatchObject({ subject: [[{ type: "2.5.4.3", value: "web" }]], dnsNames: ["web.apps.svc"], isCA: false, keyUsage: ["digitalSignature"], extKeyUsage: ["serverAuth"] });
    expect(t.notBefore.toISOString()).toBe("2026-01-01T00:00:00.000Z");
    expect(t.notAfter.getTime() - t.notBefore.getTime()).toBe(2 * 3_600_000);
  });
});

describe("a CA Certificate with nameConstraints and otherNames", () => {
  const caSpec: Partial<Certificate["spec"]> = {
    commonName: "team-a CA",
    dnsNames: undefined,
    isCA: true,
    otherNames: [{ oid: "1.3.6.1.4.1.311.20.2.3", utf8Value: "ca@example.org" }],
    nameConstraints: { critical: true, permitted: { dnsDomains: ["team-a.example.org"] }, excluded: { ipRanges: ["0.0.0.0/0"] } },
  };

  it("gets them in the SelfSigned CA certificate, and the CA issuer's leaves outside them fail openssl verify", async () => {
    const key = keys["ECDSA P-384"] as KeyObject;
    const keyPem = key.export({ format: "pem", type: "pkcs8" }).toString();
    const cert = certificate("team-a-ca", "apps", caSpec);
    const pem = buildCsr(cert.spec, resolveSpec(cert.spec), key);
    const csrText = opensslText(pem);
    expect(csrText).toMatch(/X509v3 Name Constraints: critical\n\s+Permitted:\n\s+DNS:team-a\.example\.org\n\s+Excluded:\n\s+IP:0\.0\.0\.0\/0\.0\.0\.0/);
    expect(csrText).toMatch(/othername: UPN::ca@example\.org/);
    const parsed = parseCsr(pem);
    expect(requestMismatches(requestFor(cert, pem), parsed, cert.spec, resolveSpec(cert.spec))).toEqual([]);

    const template = templateFromRequest(requestFor(cert, pem), parsed, Date.now() - 60_000);
    const ca = await new SelfSignedIssuer().sign({ requestId: "apps/team-a-ca-1", csrPem: pem, template, privateKeyPem: keyPem });
    if (ca.status !== "issued") throw new Error("expected issued");
    const caText = execFileSync("openssl", ["x509", "-noout", "-text"], { input: ca.chain[0], encoding: "utf8" });
    expect(caText).toMatch(/X509v3 Name Constraints: critical\n\s+Permitted:\n\s+DNS:team-a\.example\.org\n\s+Excluded:\n\s+IP:0\.0\.0\.0\/0\.0\.0\.0/);
    expect(caText).toMatch(/othername: UPN::ca@example\.org/);

    const issuer = await CaIssuer.create({ certificatePem: ca.chain[0] ?? "", privateKeyPem: keyPem, origin: "test" });
    const dir = tempDir("meshsign-nc-");
    writeFileSync(path.join(dir, "ca.pem"), ca.ca ?? "");
    const verifyLeaf = async (dnsName: string): Promise<string> => {
      const leafCert = certificate("leaf", "apps", { dnsNames: [dnsName] });
      const leafPem = buildCsr(leafCert.spec, resolveSpec(leafCert.spec), keys.Ed25519 as KeyObject);
      const t = templateFromRequest(requestFor(leafCert, leafPem), parseCsr(leafPem), Date.now() - 60_000);
      const out = await issuer.sign({ requestId: "apps/leaf-1", csrPem: leafPem, template: t });
      if (out.status !== "issued") throw new Error("expected issued");
      writeFileSync(path.join(dir, "leaf.pem"), out.chain[0] ?? "");
      try {
        return execFileSync("openssl", ["verify", "-CAfile", path.join(dir, "ca.pem"), path.join(dir, "leaf.pem")], { encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
      } catch (err) {
        return String((err as { stdout?: string }).stdout ?? "") + String((err as { stderr?: string }).stderr ?? "");
      }
    };
    expect(await verifyLeaf("web.team-a.example.org")).toMatch(/: OK/);
    expect(await verifyLeaf("web.team-b.example.org")).toMatch(/permitted subtree violation/);
  });

  it("refuses a request whose CSR asks for a SAN type it cannot issue (a registeredID), instead of leaving it out", () => {
    const key = keys.Ed25519 as KeyObject;
    // SAN ::= SEQUENCE { registeredID [8] IMPLICIT OID 1.2.3 } = 30 04 88 02 2a 03
    const sanValue = new Uint8Array([0x30, 0x04, 0x88, 0x02, 0x2a, 0x03]);
    const pem = buildPkcs10(key, { subject: [[{ type: "2.5.4.3", value: "x" }]], extraExtensions: [{ oid: "2.5.29.17", critical: false, value: sanValue }] });
    expect(() => parseCsr(pem)).toThrow(/subject alternative names other than DNS, IP, URI, email and UTF8String otherName/);
  });

  it("re-issues when the otherNames change (cert-manager compares them when the spec sets them)", () => {
    const cert = certificate("team-a-ca", "apps", caSpec);
    const pem = buildCsr(cert.spec, resolveSpec(cert.spec), keys.Ed25519 as KeyObject);
    const changed: Certificate["spec"] = { ...cert.spec, otherNames: [{ oid: "1.3.6.1.4.1.311.20.2.3", utf8Value: "other@example.org" }] };
    expect(requestMismatches(requestFor(cert, pem), parseCsr(pem), changed, resolveSpec(changed))).toEqual(["spec.otherNames"]);
  });
});

describe("certInfo", () => {
  it("reads names, dates, key and CA flag from a certificate signed by src/pki", () => {
    const key = keys["ECDSA P-384"] as KeyObject;
    const cert = certificate("web", "apps", { commonName: "a+b, c", ipAddresses: ["2001:db8::1"], uris: ["spiffe://td/x"] });
    const parsed = parseCsr(buildCsr(cert.spec, resolveSpec(cert.spec), key));
    const template = { ...templateFromRequest(requestFor(cert, ""), parsed, Date.parse("2026-01-01T00:00:00Z")), isCA: true };
    const pem = encodePem("CERTIFICATE", signCertificate(template, selfSignedSigner(template, key)));
    const info = certInfo(pem);
    expect(info).toMatchObject({
      subjectString: "CN=a\\+b\\, c",
      issuerString: "CN=a\\+b\\, c",
      commonName: "a+b, c",
      dnsNames: ["web.example.com"],
      ipAddresses: ["2001:db8::1"],
      uris: ["spiffe://td/x"],
      isCA: true,
      keyAlgorithm: "ECDSA P-384",
      notBeforeMs: Date.parse("2026-01-01T00:00:00Z"),
    });
    expect(info.spki.equals(parsed.publicKeySpki)).toBe(true);
    expect(info.fingerprintSha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it.each([
    [[[{ type: "2.5.4.6", value: "US" }], [{ type: "2.5.4.10", value: " lead" }]], "C=US, O=\\ lead"],
    [[[{ type: "2.5.4.3", value: "#x" }, { type: "1.2.3.4", value: "v" }]], "CN=\\#x+1.2.3.4=v"],
    [[], ""],
  ] as const)("formats %j as %j", (name, text) => {
    expect(formatName(name)).toBe(text);
  });
});

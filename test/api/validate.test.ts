import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { parseAllDocuments } from "yaml";
import { describe, expect, it } from "vitest";
import { assertValidResource, validateResource } from "../../src/api/index.js";
import { isMeshsignError } from "../../src/errors/index.js";

const fixturesDir = path.resolve(import.meta.dirname, "../../examples");
const FOREIGN_KINDS = new Set(["IstioOperator"]);

const fixtureDocs = readdirSync(fixturesDir)
  .filter((f) => f.endsWith(".yaml"))
  .flatMap((file) => parseAllDocuments(readFileSync(path.join(fixturesDir, file), "utf8")).map((d, i) => [`${file}#${i}`, d.toJS() as Record<string, unknown>] as const));

describe("every example manifest", () => {
  it("was found", () => {
    expect(fixtureDocs.length).toBeGreaterThanOrEqual(20);
  });
  it.each(fixtureDocs)("%s validates as it is, or is reported as not a meshsign kind", (_name, doc) => {
    const result = validateResource(doc);
    if (FOREIGN_KINDS.has(String(doc.kind))) {
      expect(result).toMatchObject({ ok: false, reason: "UnknownKind" });
    } else {
      expect(result.ok ? [] : result.errors).toEqual([]);
    }
  });
});

function cert(spec: Record<string, unknown>): Record<string, unknown> {
  return {
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    metadata: { name: "c", namespace: "ns" },
    spec: { secretName: "c-tls", issuerRef: { name: "ca" }, dnsNames: ["a.example.com"], ...spec },
  };
}

function issuer(spec: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: "cert-manager.io/v1", kind: "Issuer", metadata: { name: "i", namespace: "ns" }, spec };
}

describe("validation of a Certificate", () => {
  const rejected: [string, Record<string, unknown>, string][] = [
    ["an ECDSA key of 2048 bits", cert({ privateKey: { algorithm: "ECDSA", size: 2048 } }), "spec.privateKey.size"],
    ["an RSA key of 1024 bits", cert({ privateKey: { size: 1024 } }), "spec.privateKey.size"],
    ["a duration under one hour", cert({ duration: "59m" }), "spec.duration"],
    ["a renewBefore not below the duration", cert({ duration: "2h", renewBefore: "2h" }), "spec.renewBefore"],
    ["a renewBefore under five minutes", cert({ renewBefore: "4m" }), "spec.renewBefore"],
    ["renewBefore with renewBeforePercentage", cert({ renewBefore: "1h", renewBeforePercentage: 10 }), "spec.renewBefore"],
    ["a renewBeforePercentage of 100", cert({ renewBeforePercentage: 100 }), "spec.renewBeforePercentage"],
    ["a malformed duration", cert({ duration: "90d" }), "spec.duration"],
    ["no identity at all", cert({ dnsNames: undefined }), "spec"],
    ["a missing secretName", cert({ secretName: undefined }), "spec.secretName"],
    ["an upper-case secretName", cert({ secretName: "My-TLS" }), "spec.secretName"],
    ["a missing issuerRef name", cert({ issuerRef: { kind: "Issuer" } }), "spec.issuerRef.name"],
    ["an unknown issuer kind in cert-manager's group", cert({ issuerRef: { name: "x", kind: "VaultIssuer" } }), "spec.issuerRef.kind"],
    ["an unknown usage", cert({ usages: ["server auth", "world domination"] }), "spec.usages[1]"],
    ["a bad IP address", cert({ ipAddresses: ["10.0.0.256"] }), "spec.ipAddresses[0]"],
    ["an e-mail with a display name", cert({ emailAddresses: ["Jo <jo@example.com>"] }), "spec.emailAddresses[0]"],
    ["commonName with literalSubject", cert({ commonName: "a", literalSubject: "CN=a" }), "spec.commonName"],
    ["a commonName over 64 characters", cert({ commonName: "a".repeat(65) }), "spec.commonName"],
    ["a cert-manager annotation in secretTemplate", cert({ secretTemplate: { annotations: { "cert-manager.io/issuer-name": "x" } } }), 'spec.secretTemplate.annotations["cert-manager.io/issuer-name"]'],
    ["an ECDSA signature with an RSA key", cert({ signatureAlgorithm: "ECDSAWithSHA256" }), "spec.signatureAlgorithm"],
    ["nameConstraints without isCA", cert({ nameConstraints: { permitted: { dnsDomains: ["x"] } } }), "spec.nameConstraints"],
    ["a revisionHistoryLimit of 0", cert({ revisionHistoryLimit: 0 }), "spec.revisionHistoryLimit"],
    ["a keystore with two passwords", cert({ keystores: { pkcs12: { create: true, password: "a", passwordSecretRef: { name: "s", key: "k" } } } }), "spec.keystores.pkcs12"],
    ["duplicate output formats", cert({ additionalOutputFormats: [{ type: "DER" }, { type: "DER" }] }), "spec.additionalOutputFormats[1].type"],
    ["an unknown key algorithm", cert({ privateKey: { algorithm: "DSA" } }), "spec.privateKey.algorithm"],
    ["a bad otherName OID", cert({ otherNames: [{ oid: "1.3.x", utf8Value: "u" }] }), "spec.otherNames[0].oid"],
    ["a secretTemplate label key that is not a label key", cert({ secretTemplate: { labels: { "-bad/key": "v" } } }), 'spec.secretTemplate.labels["-bad/key"]'],
    ["a secretTemplate label value that is not a label value", cert({ secretTemplate: { labels: { app: "a=b" } } }), "spec.secretTemplate.labels.app"],
    ["a secretTemplate annotation key that is not a qualified name", cert({ secretTemplate: { annotations: { "a b": "v" } } }), 'spec.secretTemplate.annotations["a b"]'],
    ["secretTemplate annotations over 256 KiB in total", cert({ secretTemplate: { annotations: { "a.example.com/x": "0".repeat(200 * 1024), "a.example.com/y": "0".repeat(57 * 1024) } } }), "spec.secretTemplate.annotations"],
    ["a literalSubject with an unknown attribute type", cert({ literalSubject: "C=O,B=TX,CN=foo" }), "spec.literalSubject"],
    ["a literalSubject that is not RFC 4514", cert({ literalSubject: "CN=a,garbage" }), "spec.literalSubject"],
    ["a literalSubject whose CN is over 64 bytes", cert({ literalSubject: `CN=${"é".repeat(33)}` }), "spec.commonName"],
  ];
  it.each(rejected)("rejects %s at the right path", (_name, obj, expectedPath) => {
    const result = validateResource(obj);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors.map((e) => e.path)).toContain(expectedPath);
  });

  const accepted: [string, Record<string, unknown>][] = [
    ["a literalSubject carrying the CN", cert({ dnsNames: undefined, literalSubject: "CN=app,O=Example" })],
    ["an Ed25519 key without a size", cert({ privateKey: { algorithm: "Ed25519" } })],
    ["a renewBeforePercentage alone", cert({ renewBeforePercentage: 25 })],
    ["an external issuer kind in another group", cert({ issuerRef: { name: "x", kind: "AWSPCAIssuer", group: "awspca.cert-manager.io" } })],
    ["only a URI SAN", cert({ dnsNames: undefined, uris: ["spiffe://cluster.local/ns/a/sa/b"] })],
    ["cainjector's allow-direct-injection annotation in secretTemplate", cert({ secretTemplate: { annotations: { "cert-manager.io/allow-direct-injection": "true" } } })],
    ["secretTemplate annotations of exactly 256 KiB in total", cert({ secretTemplate: { annotations: { "a.example.com/x": "0".repeat(256 * 1024 - 15) } } })],
    ["a literalSubject with escapes, SERIALNUMBER, STREET, UID, DC and an OID", cert({ literalSubject: 'CN=James \\"Jim\\" Smith\\, III,SERIALNUMBER=1,STREET=La Rambla,UID=js,DC=net,1.2.3.4=x' })],
  ];
  it.each(accepted)("accepts %s", (_name, obj) => {
    const result = validateResource(obj);
    expect(result.ok ? [] : result.errors).toEqual([]);
  });

  it("names the unknown literalSubject attribute's value, as cert-manager does, and says what is allowed", () => {
    const result = validateResource(cert({ literalSubject: "C=O,B=TX,CN=foo" }));
    expect(result.ok ? [] : result.errors).toEqual([
      { path: "spec.literalSubject", message: 'Literal subject contains unrecognized key with value [TX]: unknown attribute type "B": use one of C, O, OU, CN, SERIALNUMBER, L, ST, STREET, DC, UID or a dotted OID' },
    ]);
  });

  it("prunes fields the schema does not know, as a structural CRD does", () => {
    const result = validateResource(cert({ notAField: true }));
    expect(result.ok).toBe(true);
    if (result.ok) expect((result.value as unknown as { spec: Record<string, unknown> }).spec.notAField).toBeUndefined();
  });

  it("throws ERR_RESOURCE_INVALID naming every failing path", () => {
    try {
      assertValidResource(cert({ duration: "10m", privateKey: { algorithm: "ECDSA", size: 1 } }));
      expect.unreachable();
    } catch (err) {
      expect(isMeshsignError(err, "ERR_RESOURCE_INVALID")).toBe(true);
      expect((err as Error).message).toContain("Certificate ns/c is invalid");
    }
    try {
      assertValidResource(cert({ ipAddresses: ["nope"], usages: ["bogus"] }));
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toMatch(/spec\.ipAddresses\[0\].*spec\.usages\[0\]/);
    }
  });
});

describe("validation of Issuers and other kinds", () => {
  const rejected: [string, Record<string, unknown>, string][] = [
    ["an Issuer without any type", issuer({}), "spec"],
    ["an Issuer with two types", issuer({ ca: { secretName: "s" }, selfSigned: {} }), "spec.selfSigned"],
    ["a CA issuer without secretName", issuer({ ca: {} }), "spec.ca.secretName"],
    ["a Vault issuer without auth", issuer({ vault: { server: "https://v", path: "pki/sign/r", auth: {} } }), "spec.vault.auth"],
    ["a Vault issuer with two auth methods", issuer({ vault: { server: "https://v", path: "pki/sign/r", auth: { tokenSecretRef: { name: "t" }, kubernetes: { role: "r", secretRef: { name: "s" } } } } }), "spec.vault.auth"],
    ["a Vault path escaping with ..", issuer({ vault: { server: "https://v", path: "pki/../sys", auth: { tokenSecretRef: { name: "t" } } } }), "spec.vault.path"],
    ["an ACME solver with both http01 and dns01", issuer({ acme: { server: "https://a/dir", privateKeySecretRef: { name: "k" }, solvers: [{ http01: { ingress: {} }, dns01: { route53: {} } }] } }), "spec.acme.solvers[0]"],
    ["a DNS-01 solver with no provider", issuer({ acme: { server: "https://a/dir", privateKeySecretRef: { name: "k" }, solvers: [{ dns01: {} }] } }), "spec.acme.solvers[0].dns01"],
    ["an ACME issuer with skipTLSVerify and a caBundle", issuer({ acme: { server: "https://a/dir", privateKeySecretRef: { name: "k" }, skipTLSVerify: true, caBundle: "QUJD" } }), "spec.acme.caBundle"],
    ["an ACME issuer without privateKeySecretRef", issuer({ acme: { server: "https://a/dir" } }), "spec.acme.privateKeySecretRef"],
    ["an EAB without keyID", issuer({ acme: { server: "https://a/dir", privateKeySecretRef: { name: "k" }, externalAccountBinding: { keySecretRef: { name: "e" } } } }), "spec.acme.externalAccountBinding.keyID"],
    ["a ClusterIssuer with a namespace", { apiVersion: "cert-manager.io/v1", kind: "ClusterIssuer", metadata: { name: "c", namespace: "x" }, spec: { selfSigned: {} } }, "metadata.namespace"],
    ["a Secret whose data is not base64", { apiVersion: "v1", kind: "Secret", metadata: { name: "s" }, data: { "tls.crt": "not base64!" } }, 'data["tls.crt"]'],
    ["a Secret with a bad data key", { apiVersion: "v1", kind: "Secret", metadata: { name: "s" }, data: { "a/b": "QUJD" } }, 'data["a/b"]'],
    ["an object without a name", { apiVersion: "v1", kind: "ConfigMap", metadata: {} }, "metadata.name"],
    ["a bad label value", { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c", labels: { a: "has space" } } }, "metadata.labels.a"],
    ["an object without apiVersion", { kind: "Secret", metadata: { name: "s" } }, "apiVersion"],
    ["a CertificateRequest with both Approved and Denied", { apiVersion: "cert-manager.io/v1", kind: "CertificateRequest", metadata: { name: "r" }, spec: { issuerRef: { name: "i" }, request: "QUJD" }, status: { conditions: [{ type: "Approved", status: "True" }, { type: "Denied", status: "True" }] } }, "status.conditions"],
  ];
  it.each(rejected)("rejects %s at the right path", (_name, obj, expectedPath) => {
    const result = validateResource(obj);
    expect(result).toMatchObject({ ok: false, reason: "Invalid" });
    if (!result.ok) expect(result.errors.map((e) => e.path)).toContain(expectedPath);
  });

  it("reports an unknown kind as UnknownKind rather than invalid", () => {
    expect(validateResource({ apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" } })).toMatchObject({ ok: false, reason: "UnknownKind" });
  });

  it.each(["hmacsha256", "HMACSHA256", "HmacSha256"])("accepts rfc2136 tsigAlgorithm %s (any case, as cert-manager)", (tsigAlgorithm) => {
    const solvers = [{ dns01: { rfc2136: { nameserver: "10.0.0.1", tsigAlgorithm } } }];
    expect(validateResource(issuer({ acme: { server: "https://a/dir", privateKeySecretRef: { name: "k" }, solvers } })).ok).toBe(true);
  });

  it("refuses an unknown rfc2136 tsigAlgorithm, naming the allowed ones", () => {
    const solvers = [{ dns01: { rfc2136: { nameserver: "10.0.0.1", tsigAlgorithm: "HMACSHA384" } } }];
    const result = validateResource(issuer({ acme: { server: "https://a/dir", privateKeySecretRef: { name: "k" }, solvers } }));
    expect(result).toMatchObject({ ok: false, errors: [{ path: "spec.acme.solvers[0].dns01.rfc2136.tsigAlgorithm", message: expect.stringContaining("HMACMD5, HMACSHA1, HMACSHA256, HMACSHA512") }] });
  });

  it("accepts a Venafi issuer so existing manifests load", () => {
    expect(validateResource(issuer({ venafi: { zone: "z", cloud: { apiTokenSecretRef: { name: "t" } } } })).ok).toBe(true);
  });
});

import { execFileSync } from "node:child_process";
import { createPublicKey, type KeyObject, X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { CaIssuer } from "../../src/issuers/ca/ca-issuer.js";
import { createDefaultIssuerRegistry } from "../../src/issuers/registry.js";
import { SelfSignedIssuer } from "../../src/issuers/selfsigned/selfsigned-issuer.js";
import { encodePem, selfSignedSigner, signCertificate, signerFromCertificate } from "../../src/pki/index.js";
import type { CertificateTemplate } from "../../src/pki/template.js";
import { isMeshsignError } from "../../src/errors/index.js";
import { tempDirs } from "../lib/temp-dir.js";
import { keyPairSync } from "../lib/key-pair.js";

/** Scratch directories of this file, removed after its tests. */
const tempDir = tempDirs();

const now = Date.now();
const H = 3_600_000;
const spki = (k: KeyObject) => createPublicKey(k).export({ format: "der", type: "spki" });
const pem = (k: KeyObject) => k.export({ format: "pem", type: "pkcs8" }).toString();

const derToPem = (der: Uint8Array) => encodePem("CERTIFICATE", der);

/** A certificate for `subjectKey`, self-signed when `issuerDer` is absent, else signed by that CA. */
async function makeCert(subjectKey: KeyObject, issuerKey: KeyObject, issuerDer: Uint8Array | undefined, t: Partial<CertificateTemplate>): Promise<Uint8Array> {
  const template: CertificateTemplate = { publicKeySpki: spki(subjectKey), subject: [[{ type: "2.5.4.3", value: "test" }]], isCA: false, keyUsage: ["digitalSignature"], extKeyUsage: [], notBefore: new Date(now - H), notAfter: new Date(now + 24 * H), ...t };
  const signer = issuerDer === undefined ? selfSignedSigner(template, issuerKey) : signerFromCertificate(issuerDer, issuerKey);
  return signCertificate(template, signer);
}

function leafTemplate(k: KeyObject, hours = 1): CertificateTemplate {
  return { publicKeySpki: spki(k), isCA: false, keyUsage: ["digitalSignature"], extKeyUsage: ["serverAuth"], dnsNames: ["svc.example.com"], notBefore: new Date(now), notAfter: new Date(now + hours * H) };
}

describe("CaIssuer", () => {
  const rootKey = keyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  const interKey = keyPairSync("rsa", { modulusLength: 2048 }).privateKey;
  const leafKey = keyPairSync("ed25519").privateKey;

  it.each([
    ["on libuv's thread pool (the default)", {}],
    ["on the calling thread", { signOnThreadPool: false }],
  ])("is ready for a CA key pair and signs %s a leaf that chains to the root, clamped to the CA's notAfter", async (_how, options) => {
    const rootDer = await makeCert(rootKey, rootKey, undefined, { isCA: true, keyUsage: ["keyCertSign", "cRLSign"], subject: [[{ type: "2.5.4.3", value: "root" }]] });
    const interDer = await makeCert(interKey, rootKey, rootDer, { isCA: true, keyUsage: ["keyCertSign"], subject: [[{ type: "2.5.4.3", value: "intermediate" }]] });
    const issuer = await CaIssuer.create({ certificatePem: derToPem(interDer) + derToPem(rootDer), privateKeyPem: pem(interKey), origin: "test" }, options);
    expect(issuer.status()).toEqual({ ready: true, reason: "KeyPairVerified", message: "Signing CA verified" });
    const result = await issuer.sign({ requestId: "t/1", csrPem: "", template: leafTemplate(leafKey, 1000) });
    if (result.status !== "issued") throw new Error("expected issued");
    expect(result.chain).toHaveLength(2);
    expect(result.chain[1]).toBe(derToPem(interDer));
    expect(result.ca).toBe(derToPem(rootDer));
    const leaf = new X509Certificate(result.chain[0] ?? "");
    expect(Date.parse(leaf.validTo)).toBe(Date.parse(new X509Certificate(interDer).validTo));
    const dir = tempDir("meshsign-ca-");
    writeFileSync(path.join(dir, "root.pem"), result.ca ?? "");
    writeFileSync(path.join(dir, "inter.pem"), result.chain[1] ?? "");
    writeFileSync(path.join(dir, "leaf.pem"), result.chain[0] ?? "");
    expect(execFileSync("openssl", ["verify", "-CAfile", path.join(dir, "root.pem"), "-untrusted", path.join(dir, "inter.pem"), path.join(dir, "leaf.pem")], { encoding: "utf8" })).toContain("OK");
  });

  it("refuses to sign once the CA has expired, even when the leaf's back-dated notBefore is older than the CA's notAfter", async () => {
    // The CSR service back-dates notBefore by 2 minutes; a CA that expired 30 s ago must not yield an already expired leaf.
    const expiredDer = await makeCert(rootKey, rootKey, undefined, { isCA: true, keyUsage: ["keyCertSign"], subject: [[{ type: "2.5.4.3", value: "expired" }]], notAfter: new Date(Date.now() - 30_000) });
    const issuer = await CaIssuer.create({ certificatePem: derToPem(expiredDer), privateKeyPem: pem(rootKey), origin: "test" });
    const t = Date.now();
    const template = { ...leafTemplate(leafKey), notBefore: new Date(t - 120_000), notAfter: new Date(t + H) };
    await expect(issuer.sign({ requestId: "late", csrPem: "", template })).rejects.toSatisfy(
      (e) => isMeshsignError(e, "ERR_SIGNING_FAILED") && /expired/.test((e as Error).message),
    );
  });

  it.each([
    ["a certificate that is not a CA", async () => ({ cert: await makeCert(rootKey, rootKey, undefined, { isCA: false }), key: rootKey }), /not a CA/],
    ["a key that does not match the certificate", async () => ({ cert: await makeCert(rootKey, rootKey, undefined, { isCA: true, keyUsage: ["keyCertSign"] }), key: interKey }), /does not match/],
    ["a CA without keyCertSign", async () => ({ cert: await makeCert(rootKey, rootKey, undefined, { isCA: true, keyUsage: ["digitalSignature"] }), key: rootKey }), /keyUsage|not a CA/],
  ])("is not ready (ErrInvalidKeyPair) for %s and refuses to sign", async (_name, build, message) => {
    const { cert, key } = await build();
    const issuer = await CaIssuer.create({ certificatePem: derToPem(cert), privateKeyPem: pem(key), origin: "test" });
    expect(issuer.status()).toMatchObject({ ready: false, reason: "ErrInvalidKeyPair" });
    expect(issuer.status().message).toMatch(message);
    await expect(issuer.sign({ requestId: "x", csrPem: "", template: leafTemplate(leafKey) })).rejects.toSatisfy((e) => isMeshsignError(e, "ERR_ISSUER_NOT_READY"));
  });

  it("is not ready for a CA whose RSA key is under 2048 bits (cert-manager's MinRSAKeySize), and never signs with it", async () => {
    const dir = tempDir("meshsign-weak-");
    const keyFile = path.join(dir, "weak.key");
    const certFile = path.join(dir, "weak.crt");
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:1024", "-nodes", "-keyout", keyFile, "-out", certFile, "-subj", "/CN=weak", "-days", "1", "-addext", "basicConstraints=critical,CA:true", "-addext", "keyUsage=critical,keyCertSign"], { stdio: "pipe" });
    const issuer = await CaIssuer.create({ certificatePem: readFileSync(certFile, "utf8"), privateKeyPem: readFileSync(keyFile, "utf8"), origin: "test" });
    expect(issuer.status()).toMatchObject({ ready: false, reason: "ErrInvalidKeyPair" });
    expect(issuer.status().message).toMatch(/RSA signing key has 1024 bits; at least 2048 are required/);
  });

  it("is not ready for an RSASSA-PSS CA key (id-RSASSA-PSS), saying so rather than that the key does not match", async () => {
    const dir = tempDir("meshsign-pss-ca-");
    const keyFile = path.join(dir, "pss.key");
    const certFile = path.join(dir, "pss.crt");
    execFileSync("openssl", ["genpkey", "-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048", "-pkeyopt", "rsa_pss_keygen_md:sha256", "-pkeyopt", "rsa_pss_keygen_saltlen:32", "-out", keyFile], { stdio: "pipe" });
    execFileSync("openssl", ["req", "-x509", "-key", keyFile, "-out", certFile, "-subj", "/CN=pss", "-days", "1", "-addext", "basicConstraints=critical,CA:true", "-addext", "keyUsage=critical,keyCertSign"], { stdio: "pipe" });
    const issuer = await CaIssuer.create({ certificatePem: readFileSync(certFile, "utf8"), privateKeyPem: readFileSync(keyFile, "utf8"), origin: "test" });
    expect(issuer.status()).toMatchObject({ ready: false, reason: "ErrInvalidKeyPair" });
    expect(issuer.status().message).toMatch(/RSASSA-PSS key \(id-RSASSA-PSS\).*not supported.*rsaEncryption/);
  });

  it("is not ready for an intermediate its root signed with RSASSA-PSS and a salt shorter than the hash (Go and Envoy refuse such chains)", async () => {
    const dir = tempDir("meshsign-pss-chain-");
    const f = (n: string) => path.join(dir, n);
    const run = (args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
    run(["genrsa", "-out", f("root.key"), "2048"]);
    run(["req", "-x509", "-key", f("root.key"), "-out", f("root.crt"), "-subj", "/CN=root", "-days", "1", "-addext", "basicConstraints=critical,CA:true", "-addext", "keyUsage=critical,keyCertSign"]);
    run(["genrsa", "-out", f("int.key"), "2048"]);
    run(["req", "-new", "-key", f("int.key"), "-out", f("int.csr"), "-subj", "/CN=intermediate"]);
    writeFileSync(f("ext.cnf"), "basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign\n");
    run(["x509", "-req", "-in", f("int.csr"), "-CA", f("root.crt"), "-CAkey", f("root.key"), "-CAcreateserial", "-out", f("int.crt"), "-days", "1", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:20", "-extfile", f("ext.cnf")]);
    const issuer = await CaIssuer.create({ certificatePem: readFileSync(f("int.crt"), "utf8") + readFileSync(f("root.crt"), "utf8"), privateKeyPem: readFileSync(f("int.key"), "utf8"), origin: "test" });
    expect(issuer.status()).toMatchObject({ ready: false, reason: "ErrInvalidKeyPair" });
    expect(issuer.status().message).toMatch(/RSASSA-PSS/);
  });

  it("reports ErrGetKeyPair naming the namespace it searched when a ClusterIssuer's Secret is missing", async () => {
    const registry = createDefaultIssuerRegistry({ clusterResourceNamespace: "security" });
    const built = await registry.build({ kind: "ClusterIssuer", metadata: { name: "ca" }, spec: { ca: { secretName: "root" } } }, async () => undefined);
    expect(built.issuer.status()).toMatchObject({ ready: false, reason: "ErrGetKeyPair" });
    expect(built.issuer.status().message).toContain('"security/root"');
    expect(built.secretNames).toEqual(["root"]);
  });

  it("reports an unsupported issuer type instead of failing silently", async () => {
    const built = await createDefaultIssuerRegistry().build({ kind: "Issuer", metadata: { name: "v", namespace: "a" }, spec: { venafi: { zone: "z" } } }, async () => undefined);
    expect(built.issuer.status()).toMatchObject({ ready: false, reason: "UnsupportedIssuerType" });
  });
});

describe("SelfSignedIssuer", () => {
  it("signs with the request's own key, so ca equals the leaf", async () => {
    const k = keyPairSync("ec", { namedCurve: "P-384" }).privateKey;
    const r = await new SelfSignedIssuer().sign({ requestId: "a", csrPem: "", template: { ...leafTemplate(k), subject: [[{ type: "2.5.4.3", value: "self" }]] }, privateKeyPem: pem(k) });
    if (r.status !== "issued") throw new Error("expected issued");
    expect(r.ca).toBe(r.chain[0]);
    const c = new X509Certificate(r.chain[0] ?? "");
    expect(c.verify(c.publicKey)).toBe(true);
  });

  it.each([
    ["no private key", undefined],
    ["a private key that does not match the request", pem(keyPairSync("ed25519").privateKey)],
  ])("refuses a request with %s", async (_name, keyPem) => {
    const k = keyPairSync("ed25519").privateKey;
    await expect(new SelfSignedIssuer().sign({ requestId: "a", csrPem: "", template: leafTemplate(k), ...(keyPem ? { privateKeyPem: keyPem } : {}) })).rejects.toSatisfy((e) => isMeshsignError(e, "ERR_SIGNING_FAILED"));
  });
});

describe("the template reaches the certificate unchanged", () => {
  const caKey = keyPairSync("rsa", { modulusLength: 2048 }).privateKey;
  const leafKey = keyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  const O = "2.5.4.10";
  const CN = "2.5.4.3";
  const cases: [string, Partial<CertificateTemplate>, { subject: string; san: string[]; critical: boolean }][] = [
    [
      "an Istio X.509-SVID (empty subject, one URI, critical SAN, server and client auth)",
      { subject: [], uris: ["spiffe://cluster.local/ns/default/sa/httpbin"], keyUsage: ["digitalSignature", "keyEncipherment"], extKeyUsage: ["serverAuth", "clientAuth"] },
      { subject: "", san: ["URI:spiffe://cluster.local/ns/default/sa/httpbin"], critical: true },
    ],
    [
      "a gateway certificate (CN and O, DNS, IP and email names, non-critical SAN)",
      {
        subject: [[{ type: O, value: "Example Ltd" }], [{ type: CN, value: "www.example.com" }]],
        dnsNames: ["www.example.com", "example.com"],
        ipAddresses: ["10.0.0.1", "2001:db8::1"],
        emailAddresses: ["ops@example.com"],
        keyUsage: ["digitalSignature", "keyEncipherment"],
        extKeyUsage: ["serverAuth"],
      },
      { subject: "O=Example Ltd, CN=www.example.com", san: ["DNS:www.example.com", "DNS:example.com", "IP Address:10.0.0.1", "IP Address:2001:DB8:0:0:0:0:0:1", "email:ops@example.com"], critical: false },
    ],
    [
      "an intermediate CA with a path length",
      { subject: [[{ type: CN, value: "intermediate" }]], isCA: true, maxPathLen: 0, keyUsage: ["keyCertSign", "cRLSign", "digitalSignature"], extKeyUsage: [] },
      { subject: "CN=intermediate", san: [], critical: false },
    ],
  ];

  it.each(cases)("for %s, as openssl reads it", async (_name, t, want) => {
    const rootDer = await makeCert(caKey, caKey, undefined, { isCA: true, keyUsage: ["keyCertSign", "cRLSign"], subject: [[{ type: CN, value: "root" }]], notAfter: new Date(now + 1000 * H) });
    const issuer = await CaIssuer.create({ certificatePem: derToPem(rootDer), privateKeyPem: pem(caKey), origin: "test" });
    const template: CertificateTemplate = { ...leafTemplate(leafKey, 10), dnsNames: [], ...t };
    const result = await issuer.sign({ requestId: "t/map", csrPem: "", template });
    if (result.status !== "issued") throw new Error("expected issued");
    const text = execFileSync("openssl", ["x509", "-noout", "-text", "-nameopt", "sep_comma_plus_space"], { input: result.chain[0], encoding: "utf8" });
    expect(text).toMatch(new RegExp(`Subject: ?${want.subject.replace(/\./g, "\\.")}\\n`));
    expect(text).toContain("Issuer: CN=root");
    const kuNames: Record<string, string> = { digitalSignature: "Digital Signature", keyEncipherment: "Key Encipherment", keyCertSign: "Certificate Sign", cRLSign: "CRL Sign" };
    const ku = /X509v3 Key Usage: critical\n\s+(.*)\n/.exec(text)?.[1] ?? "";
    expect(ku.split(", ").sort()).toEqual((template.keyUsage.map((u) => kuNames[u])).sort());
    const ekuNames: Record<string, string> = { serverAuth: "TLS Web Server Authentication", clientAuth: "TLS Web Client Authentication" };
    const eku = /X509v3 Extended Key Usage: ?\n\s+(.*)\n/.exec(text)?.[1];
    expect(eku === undefined ? [] : eku.split(", ")).toEqual(template.extKeyUsage.map((u) => ekuNames[u]));
    const san = /X509v3 Subject Alternative Name: ?(critical)?\n\s+(.*)\n/.exec(text);
    // The order of GeneralNames is the encoder's choice; the set is what the template asked for.
    expect(san === null ? [] : (san[2] ?? "").split(", ").sort()).toEqual([...want.san].sort());
    if (san !== null) expect(san[1] === "critical").toBe(want.critical);
    expect(text).toMatch(template.isCA ? /CA:TRUE, pathlen:0/ : /CA:FALSE/);
    expect(text).toMatch(/X509v3 Authority Key Identifier/);
    expect(text).toMatch(/Signature Algorithm: sha256WithRSAEncryption/);
  });
});

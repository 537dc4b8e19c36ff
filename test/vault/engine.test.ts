import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { Registry } from "prom-client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CERTIFICATE_REQUESTS, CERTIFICATES, CLUSTER_ISSUERS, SECRETS } from "../../src/api/types.js";
import { systemClock } from "../../src/engine/clock.js";
import { Engine } from "../../src/engine/engine.js";
import type { Certificate, CertificateRequest, IssuerResource, Secret } from "../../src/engine/lib/api.js";
import { MemoryStore } from "../../src/store/memory/index.js";
import { SIGN_POLICY, VaultServer } from "./harness.js";
import { tempDirs } from "../lib/temp-dir.js";

/** Scratch directories of this file, removed after its tests. */
const tempDir = tempDirs();

const NS = "meshsign-system";
let vault: VaultServer;
let engine: Engine | undefined;

beforeAll(async () => {
  vault = new VaultServer();
  await vault.start();
  await vault.configure();
});

afterAll(async () => {
  await vault?.stop();
});

afterEach(async () => {
  await engine?.stop();
  engine = undefined;
});

const decode = (s: Secret | undefined, key: string) => Buffer.from(s?.data?.[key] ?? "", "base64").toString("utf8");
const cond = (o: { status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] } } | undefined, type: string) => o?.status?.conditions?.find((c) => c.type === type);

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function setup(issuerSpec: Record<string, unknown>, secret: Record<string, string>, transientBackoff?: { minMs: number; maxMs: number }) {
  const store = new MemoryStore();
  await store.create(SECRETS, { apiVersion: "v1", kind: "Secret", metadata: { name: "vault-auth", namespace: NS }, data: Object.fromEntries(Object.entries(secret).map(([k, v]) => [k, Buffer.from(v).toString("base64")])) });
  await store.create(CLUSTER_ISSUERS, {
    apiVersion: "cert-manager.io/v1",
    kind: "ClusterIssuer",
    metadata: { name: "vault" },
    spec: { vault: { server: vault.url, caBundle: Buffer.from(vault.caPem).toString("base64"), ...issuerSpec } },
  });
  engine = new Engine({ store, clock: systemClock, metricsRegistry: new Registry(), ...(transientBackoff ? { transientBackoff } : {}) });
  await engine.start();
  return store;
}

function certificate(name: string, spec: Record<string, unknown>): Certificate {
  return { apiVersion: "cert-manager.io/v1", kind: "Certificate", metadata: { name, namespace: "istio-system" }, spec: { secretName: `${name}-tls`, issuerRef: { name: "vault", kind: "ClusterIssuer" }, duration: "24h", privateKey: { algorithm: "ECDSA", size: 256 }, ...spec } } as Certificate;
}

describe("engine Certificates through a Vault ClusterIssuer", () => {
  it("reaches Ready with AppRole: tls.crt is leaf + intermediate, ca.crt is Vault's root, openssl verifies", async () => {
    const { roleId, secretId } = await vault.appRole("engine", [SIGN_POLICY]);
    const store = await setup({ path: "pki_int/sign/mesh", auth: { appRole: { path: "approle", roleId, secretRef: { name: "vault-auth", key: "secretId" } } } }, { secretId });
    const issuer = await until("issuer Ready", async () => {
      const i = await store.get<IssuerResource>(CLUSTER_ISSUERS, undefined, "vault");
      return cond(i, "Ready") !== undefined ? i : undefined;
    });
    expect(cond(issuer, "Ready")).toMatchObject({ status: "True", reason: "VaultVerified", message: "Vault verified" });
    await store.create(CERTIFICATES, certificate("istiod", { dnsNames: ["istiod.istio-system.svc.cluster.local"], uris: ["spiffe://cluster.local/ns/istio-system/sa/istiod"] }));
    const ready = await until("Certificate Ready", async () => {
      const c = await store.get<Certificate>(CERTIFICATES, "istio-system", "istiod");
      return cond(c, "Ready")?.status === "True" ? c : undefined;
    });
    expect(ready.status?.revision).toBe(1);
    const secret = await store.get<Secret>(SECRETS, "istio-system", "istiod-tls");
    const tls = decode(secret, "tls.crt");
    const ca = decode(secret, "ca.crt");
    expect(ca.trim()).toBe(vault.rootPem.trim());
    const parts = tls.split(/(?<=-----END CERTIFICATE-----\n?)/).filter((p) => p.trim() !== "");
    expect(parts).toHaveLength(2);
    expect(parts[1]?.trim()).toBe(vault.intermediatePem.trim());
    const leaf = new X509Certificate(parts[0] ?? "");
    expect(leaf.subjectAltName).toContain("URI:spiffe://cluster.local/ns/istio-system/sa/istiod");
    expect(leaf.subjectAltName).toContain("DNS:istiod.istio-system.svc.cluster.local");
    const dir = tempDir("meshsign-vault-engine-");
    writeFileSync(path.join(dir, "ca.pem"), ca);
    writeFileSync(path.join(dir, "int.pem"), parts[1] ?? "");
    writeFileSync(path.join(dir, "leaf.pem"), parts[0] ?? "");
    expect(execFileSync("openssl", ["verify", "-CAfile", path.join(dir, "ca.pem"), "-untrusted", path.join(dir, "int.pem"), path.join(dir, "leaf.pem")], { encoding: "utf8" })).toMatch(/OK/);
  });

  it("reaches Ready with token auth, and a SAN the role forbids fails the request with Vault's reason", async () => {
    const token = await vault.token([SIGN_POLICY]);
    const store = await setup({ path: "pki_int/sign/mesh", auth: { tokenSecretRef: { name: "vault-auth" } } }, { token });
    await store.create(CERTIFICATES, certificate("gateway", { dnsNames: ["gw.istio-system.svc.cluster.local"] }));
    await store.create(CERTIFICATES, certificate("foreign", { uris: ["spiffe://evil.example/ns/x/sa/y"] }));
    await until("gateway Ready", async () => (cond(await store.get<Certificate>(CERTIFICATES, "istio-system", "gateway"), "Ready")?.status === "True" ? true : undefined));
    const cr = await until("foreign request failed", async () => {
      const crs = await store.list<CertificateRequest>(CERTIFICATE_REQUESTS, { namespace: "istio-system" });
      return crs.find((c) => c.metadata.name?.startsWith("foreign") && cond(c, "Ready")?.reason === "Failed");
    });
    expect(cond(cr, "Ready")?.message).toMatch(/pki_int\/sign\/mesh failed to sign the certificate \(HTTP 400\).*URI Subject Alternative Names/i);
  });

  it("refuses what a role without client_flag signs for a Certificate that asks for client auth, and issues the one that does not", async () => {
    // Vault writes the role's usages (here: server auth only) into every certificate, whatever the CSR asks.
    await vault.must("POST", "pki_int/roles/server-only", {
      allowed_uri_sans: ["spiffe://cluster.local/*"],
      allowed_domains: ["svc.cluster.local"],
      allow_subdomains: true,
      require_cn: false,
      key_type: "any",
      max_ttl: "72h",
      server_flag: true,
      client_flag: false,
    });
    await vault.must("PUT", "sys/policies/acl/server-only", { policy: 'path "pki_int/sign/server-only" { capabilities = ["update"] }' });
    const token = await vault.token(["server-only"]);
    const store = await setup({ path: "pki_int/sign/server-only", auth: { tokenSecretRef: { name: "vault-auth" } } }, { token });
    await store.create(CERTIFICATES, certificate("mtls", { dnsNames: ["mtls.istio-system.svc.cluster.local"], usages: ["digital signature", "key encipherment", "server auth", "client auth"] }));
    await store.create(CERTIFICATES, certificate("web", { dnsNames: ["web.istio-system.svc.cluster.local"], usages: ["digital signature", "key encipherment", "server auth"] }));
    await until("web Ready", async () => (cond(await store.get<Certificate>(CERTIFICATES, "istio-system", "web"), "Ready")?.status === "True" ? true : undefined));
    const cr = await until("mtls request failed", async () => {
      const crs = await store.list<CertificateRequest>(CERTIFICATE_REQUESTS, { namespace: "istio-system" });
      return crs.find((c) => c.metadata.name?.startsWith("mtls") && cond(c, "Ready")?.reason === "Failed");
    });
    expect(cond(cr, "Ready")?.message).toMatch(/^DecodeError: the issuer returned a certificate meshsign refuses: its extended key usages \[serverAuth\] do not allow clientAuth, which was asked for$/);
  });

  it("keeps a request Pending while Vault is sealed (no failure back-off) and issues after unseal without a restart", async () => {
    const token = await vault.token([SIGN_POLICY]);
    const store = await setup({ path: "pki_int/sign/mesh", auth: { tokenSecretRef: { name: "vault-auth" } } }, { token }, { minMs: 200, maxMs: 1_000 });
    await vault.seal();
    try {
      await store.create(CERTIFICATES, certificate("sealed", { dnsNames: ["sealed.istio-system.svc.cluster.local"] }));
      const cr = await until("request pending on the sealed Vault", async () => {
        const crs = await store.list<CertificateRequest>(CERTIFICATE_REQUESTS, { namespace: "istio-system" });
        return crs.find((c) => c.metadata.name?.startsWith("sealed") && /sealed/.test(cond(c, "Ready")?.message ?? ""));
      });
      expect(cond(cr, "Ready")).toMatchObject({ status: "False", reason: "Pending" });
      expect(cond(await store.get<Certificate>(CERTIFICATES, "istio-system", "sealed"), "Issuing")?.status).toBe("True");
    } finally {
      await vault.unseal();
    }
    await until("Certificate Ready after unseal", async () => (cond(await store.get<Certificate>(CERTIFICATES, "istio-system", "sealed"), "Ready")?.status === "True" ? true : undefined));
  });
});

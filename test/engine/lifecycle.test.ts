import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { CERTIFICATE_REQUESTS, CERTIFICATES, CLUSTER_ISSUERS, ISSUERS, SECRETS } from "../../src/api/types.js";
import { Engine } from "../../src/engine/engine.js";
import type { Certificate, CertificateRequest, IssuerResource, Secret } from "../../src/engine/lib/api.js";
import type { KubeObject, ResourceType, Store } from "../../src/store/types.js";
import { MemoryStore } from "../../src/store/memory/index.js";
import { certificate, decode, loadFixture } from "./lib/builders.js";
import { FakeClock, fixedRandom } from "./lib/fake-clock.js";
import { tempDirs } from "../lib/temp-dir.js";

/** Scratch directories of this file, removed after its tests. */
const tempDir = tempDirs();

const START = Date.parse("2026-01-01T00:00:00Z");
const HOUR = 3_600_000;

const TYPES: Record<string, ResourceType> = { Certificate: CERTIFICATES, ClusterIssuer: CLUSTER_ISSUERS, Issuer: ISSUERS };

async function apply(store: Store, objects: KubeObject[]): Promise<void> {
  for (const o of objects) {
    const type = TYPES[o.kind];
    if (type === undefined) continue;
    await store.create(type, structuredClone(o));
  }
}

function ready(cert: Certificate | undefined): string | undefined {
  return cert?.status?.conditions?.find((c) => c.type === "Ready")?.status;
}

function openssl(caPem: string, chainPem: string, atMs: number): string {
  const dir = tempDir("meshsign-verify-");
  const leaf = chainPem.split(/(?<=-----END CERTIFICATE-----\n?)/)[0] ?? "";
  const rest = chainPem.slice(leaf.length);
  writeFileSync(path.join(dir, "ca.pem"), caPem);
  writeFileSync(path.join(dir, "leaf.pem"), leaf);
  writeFileSync(path.join(dir, "untrusted.pem"), rest.trim() === "" ? caPem : rest);
  return execFileSync("openssl", ["verify", "-attime", String(Math.floor(atMs / 1000)), "-CAfile", path.join(dir, "ca.pem"), "-untrusted", path.join(dir, "untrusted.pem"), path.join(dir, "leaf.pem")], { encoding: "utf8" });
}

describe("engine lifecycle on the memory store with a frozen clock", () => {
  let engine: Engine | undefined;
  afterEach(async () => {
    await engine?.stop();
    engine = undefined;
  });

  async function setup(objects: KubeObject[]) {
    const clock = new FakeClock(START);
    const store = new MemoryStore({ now: () => clock.now() });
    await apply(store, objects);
    const metrics = new Registry();
    engine = new Engine({ store, clock, random: fixedRandom(0), metricsRegistry: metrics });
    const e = engine;
    await e.start();
    const settle = () => e.idle();
    await settle();
    return { clock, store, engine: e, settle, metrics };
  }

  it("issues the pki-bootstrap fixture: a self-signed root, a CA ClusterIssuer on it, and a leaf that verifies", async () => {
    const { store } = await setup(loadFixture("pki-bootstrap.yaml"));
    const root = await store.get<Certificate>(CERTIFICATES, "meshsign-system", "mesh-root");
    const leaf = await store.get<Certificate>(CERTIFICATES, "prod", "internal-api");
    expect(ready(root)).toBe("True");
    expect(ready(leaf)).toBe("True");
    const caIssuer = await store.get<IssuerResource>(CLUSTER_ISSUERS, undefined, "mesh-ca");
    expect(caIssuer?.status?.conditions?.find((c) => c.type === "Ready")).toMatchObject({ status: "True", reason: "KeyPairVerified" });

    const rootSecret = await store.get<Secret>(SECRETS, "meshsign-system", "mesh-root-ca");
    expect(decode(rootSecret, "ca.crt")).toBe(decode(rootSecret, "tls.crt"));
    const leafSecret = await store.get<Secret>(SECRETS, "prod", "internal-api-tls");
    expect(leafSecret?.type).toBe("kubernetes.io/tls");
    const x = new X509Certificate(decode(leafSecret, "tls.crt"));
    const ca = new X509Certificate(decode(leafSecret, "ca.crt"));
    expect(x.verify(ca.publicKey)).toBe(true);
    expect(x.subjectAltName).toContain("DNS:api.prod.svc.cluster.local");
    expect(x.subjectAltName).toContain("IP Address:10.0.0.15");
    expect(x.subjectAltName).toContain("URI:spiffe://cluster.local/ns/prod/sa/api");
    expect(x.checkPrivateKey((await import("node:crypto")).createPrivateKey(decode(leafSecret, "tls.key")))).toBe(true);
    expect(decode(leafSecret, "tls.key")).toContain("BEGIN RSA PRIVATE KEY");
    expect(openssl(decode(leafSecret, "ca.crt"), decode(leafSecret, "tls.crt"), START + HOUR)).toContain("OK");
    expect(leafSecret?.metadata.annotations).toMatchObject({
      "cert-manager.io/certificate-name": "internal-api",
      "cert-manager.io/issuer-name": "mesh-ca",
      "cert-manager.io/issuer-kind": "ClusterIssuer",
      "cert-manager.io/issuer-group": "cert-manager.io",
      "cert-manager.io/alt-names": "api.prod.svc,api.prod.svc.cluster.local",
      "cert-manager.io/ip-sans": "10.0.0.15",
    });
    expect(leaf?.status?.revision).toBe(1);
    const requests = await store.list<CertificateRequest>(CERTIFICATE_REQUESTS, { namespace: "prod" });
    expect(requests).toHaveLength(1);
    expect(requests[0]?.status?.conditions?.find((c) => c.type === "Approved")?.status).toBe("True");
  });

  it("renews at two thirds of the lifetime, rotates the key with Always, keeps it with Never, re-issues on a spec or issuer change, and cleans up on deletion", async () => {
    const { clock, store, settle, metrics } = await setup([
      ...loadFixture("pki-bootstrap.yaml"),
      certificate("web", "apps", { issuerRef: { name: "mesh-ca", kind: "ClusterIssuer" }, duration: "24h", privateKey: { algorithm: "ECDSA", size: 256 } }),
    ]);
    const get = () => store.get<Certificate>(CERTIFICATES, "apps", "web");
    const secret = () => store.get<Secret>(SECRETS, "apps", "web-tls");
    const first = await get();
    expect(ready(first)).toBe("True");
    expect(first?.status?.revision).toBe(1);
    const renewalTime = Date.parse(first?.status?.renewalTime ?? "");
    expect(renewalTime).toBe(Date.parse(first?.status?.notAfter ?? "") - 8 * HOUR);
    const key1 = decode(await secret(), "tls.key");
    expect(key1).toContain("BEGIN EC PRIVATE KEY");

    // Nothing happens before the renewal time.
    await clock.advanceTo(renewalTime - 1000, settle);
    expect((await get())?.status?.revision).toBe(1);
    // At the renewal time: revision 2 with a new key (rotationPolicy Always).
    await clock.advanceTo(renewalTime + 1000, settle);
    const second = await get();
    expect(second?.status?.revision).toBe(2);
    expect(ready(second)).toBe("True");
    const key2 = decode(await secret(), "tls.key");
    expect(key2).not.toBe(key1);
    // revisionHistoryLimit 1: only the current request is kept.
    const crs = await store.list<CertificateRequest>(CERTIFICATE_REQUESTS, { namespace: "apps" });
    expect(crs.map((c) => c.metadata.annotations?.["cert-manager.io/certificate-revision"])).toEqual(["2"]);

    // rotationPolicy Never is not a trigger by itself; a manual renewal then keeps the key.
    await store.update<Certificate>(CERTIFICATES, { ...(second as Certificate), spec: { ...(second as Certificate).spec, privateKey: { algorithm: "ECDSA", size: 256, rotationPolicy: "Never" } } });
    await settle();
    expect((await get())?.status?.revision).toBe(2);
    await engine?.renew("apps", "web");
    await settle();
    expect((await get())?.status?.revision).toBe(3);
    expect(decode(await secret(), "tls.key")).toBe(key2);

    // A spec change (a new DNS name) re-issues with the new SAN.
    const third = (await get()) as Certificate;
    await store.update<Certificate>(CERTIFICATES, { ...third, spec: { ...third.spec, dnsNames: ["web.example.com", "www.example.com"] } });
    await settle();
    const fourth = await get();
    expect(fourth?.status?.revision).toBe(4);
    expect(new X509Certificate(decode(await secret(), "tls.crt")).subjectAltName).toContain("DNS:www.example.com");

    // An issuer change re-issues from the new issuer (SelfSigned: ca.crt = tls.crt).
    await store.update<Certificate>(CERTIFICATES, { ...(fourth as Certificate), spec: { ...(fourth as Certificate).spec, issuerRef: { name: "selfsigned", kind: "ClusterIssuer" } } });
    await settle();
    expect((await get())?.status?.revision).toBe(5);
    const s5 = await secret();
    expect(s5?.metadata.annotations?.["cert-manager.io/issuer-name"]).toBe("selfsigned");
    expect(decode(s5, "ca.crt")).toBe(decode(s5, "tls.crt"));

    const text = await metrics.metrics();
    expect(text).toContain('certmanager_certificate_ready_status{name="web",namespace="apps",issuer_name="selfsigned",issuer_kind="ClusterIssuer",issuer_group="cert-manager.io",condition="True"} 1');
    expect(text).not.toContain('name="web",namespace="apps",issuer_name="mesh-ca"');

    // Deletion: requests and the staged key go with the Certificate; the Secret stays (cert-manager's default).
    await store.delete(CERTIFICATES, "apps", "web");
    await settle();
    expect(await store.list<CertificateRequest>(CERTIFICATE_REQUESTS, { namespace: "apps" })).toHaveLength(0);
    expect(await secret()).toBeDefined();
    expect(await metrics.metrics()).not.toContain('name="web",namespace="apps"');
  });

  it("says on the Issuing condition that rotationPolicy Never cannot go on when the existing key no longer fits the spec", async () => {
    const { store, settle, engine: e } = await setup([
      ...loadFixture("pki-bootstrap.yaml"),
      certificate("kept", "apps", { issuerRef: { name: "mesh-ca", kind: "ClusterIssuer" }, privateKey: { algorithm: "ECDSA", size: 256 } }),
    ]);
    const first = (await store.get<Certificate>(CERTIFICATES, "apps", "kept")) as Certificate;
    expect(first.status?.revision).toBe(1);
    // A larger key is asked for, but the key may not be replaced: a person has to act.
    await store.update<Certificate>(CERTIFICATES, { ...first, spec: { ...first.spec, privateKey: { algorithm: "ECDSA", size: 384, rotationPolicy: "Never" } } });
    await settle();
    const stuck = await store.get<Certificate>(CERTIFICATES, "apps", "kept");
    expect(stuck?.status?.revision).toBe(1);
    expect(stuck?.status?.conditions?.find((c) => c.type === "Issuing")).toMatchObject({ status: "False", reason: "CannotRegenerateKey", message: expect.stringContaining("rotationPolicy") });
    expect(await store.list<CertificateRequest>(CERTIFICATE_REQUESTS, { namespace: "apps" })).toHaveLength(1);
    // Said once, not by a loop that starts issuing and stops again.
    const events = (await e.describe("apps", "kept")).events;
    expect(events.filter((ev) => ev.reason === "CannotRegenerateKey").map((ev) => ev.count)).toEqual([1]);
    expect(events.some((ev) => ev.reason === "ReissueLimited")).toBe(false);
    // A manual renewal stops at the same place and says so again.
    await e.renew("apps", "kept");
    await settle();
    const renewed = await store.get<Certificate>(CERTIFICATES, "apps", "kept");
    expect(renewed?.status?.revision).toBe(1);
    expect(renewed?.status?.conditions?.find((c) => c.type === "Issuing")).toMatchObject({ status: "False", reason: "CannotRegenerateKey" });
    // Allowing a new key lets it go on at once.
    const fixed = (await store.get<Certificate>(CERTIFICATES, "apps", "kept")) as Certificate;
    await store.update<Certificate>(CERTIFICATES, { ...fixed, spec: { ...fixed.spec, privateKey: { algorithm: "ECDSA", size: 384, rotationPolicy: "Always" } } });
    await settle();
    const reissued = await store.get<Certificate>(CERTIFICATES, "apps", "kept");
    expect(reissued?.status?.revision).toBe(2);
    expect(ready(reissued)).toBe("True");
  });

  it("flips Ready to False at the exact expiry instant when renewal keeps failing", async () => {
    const { clock, store, settle } = await setup([
      ...loadFixture("pki-bootstrap.yaml"),
      certificate("short", "apps", { issuerRef: { name: "mesh-ca", kind: "ClusterIssuer" }, duration: "2h", privateKey: { algorithm: "ECDSA", size: 256 } }),
    ]);
    const first = await store.get<Certificate>(CERTIFICATES, "apps", "short");
    const notAfter = Date.parse(first?.status?.notAfter ?? "");
    // Break the CA issuer (it now points at a missing Secret), so renewals stay Pending and never complete.
    const ca = (await store.get<IssuerResource>(CLUSTER_ISSUERS, undefined, "mesh-ca")) as IssuerResource;
    await store.update<IssuerResource>(CLUSTER_ISSUERS, { ...ca, spec: { ca: { secretName: "missing" } } });
    await settle();
    await clock.advanceTo(notAfter, settle);
    expect(ready(await store.get<Certificate>(CERTIFICATES, "apps", "short"))).toBe("True");
    await clock.advanceTo(notAfter + 1, settle);
    const expired = await store.get<Certificate>(CERTIFICATES, "apps", "short");
    expect(expired?.status?.conditions?.find((c) => c.type === "Issuing")?.status).toBe("True");
    const pending = await store.list<CertificateRequest>(CERTIFICATE_REQUESTS, { namespace: "apps" });
    expect(pending.find((r) => r.metadata.annotations?.["cert-manager.io/certificate-revision"] === "2")?.status?.conditions?.find((c) => c.type === "Ready")?.message).toContain("missing");
    expect(expired?.status?.conditions?.find((c) => c.type === "Ready")).toMatchObject({ status: "False", reason: "Expired" });
  });
});

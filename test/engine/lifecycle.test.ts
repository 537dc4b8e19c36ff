import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
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

const START = Date.parse("2026-01-01T00:00:00Z");
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

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
  const dir = mkdtempSync(path.join(tmpdir(), "meshsign-verify-"));
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
});

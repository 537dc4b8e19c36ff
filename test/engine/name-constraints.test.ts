import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { CERTIFICATES, CLUSTER_ISSUERS, SECRETS } from "../../src/api/types.js";
import { Engine } from "../../src/engine/engine.js";
import type { Certificate, Secret } from "../../src/engine/lib/api.js";
import { MemoryStore } from "../../src/store/memory/index.js";
import { certificate, clusterIssuer, decode } from "./lib/builders.js";
import { FakeClock, fixedRandom } from "./lib/fake-clock.js";
import { tempDirs } from "../lib/temp-dir.js";

/** Scratch directories of this file, removed after its tests. */
const tempDir = tempDirs();

const START = Date.parse("2026-01-01T00:00:00Z");

function verify(caPem: string, leafPem: string): string {
  const dir = tempDir("meshsign-nc-engine-");
  writeFileSync(path.join(dir, "ca.pem"), caPem);
  writeFileSync(path.join(dir, "leaf.pem"), leafPem);
  const r = spawnSync("openssl", ["verify", "-attime", String(START / 1000 + 60), "-CAfile", path.join(dir, "ca.pem"), path.join(dir, "leaf.pem")], { encoding: "utf8" });
  return `${r.stdout}${r.stderr}`;
}

describe("an isCA Certificate with nameConstraints, through the engine", () => {
  let engine: Engine | undefined;
  afterEach(async () => {
    await engine?.stop();
    engine = undefined;
  });

  it("yields a constrained CA from the selfSigned issuer, whose ca issuer's leaves outside the constraints fail verification", async () => {
    const clock = new FakeClock(START);
    const store = new MemoryStore({ now: () => clock.now() });
    const root = certificate("team-root", "meshsign-system", {
      isCA: true,
      commonName: "team-a root",
      dnsNames: undefined,
      secretName: "team-root-ca",
      privateKey: { algorithm: "ECDSA", size: 256 },
      nameConstraints: { critical: true, permitted: { dnsDomains: ["team-a.example.org"] }, excluded: { ipRanges: ["0.0.0.0/0", "::/0"] } },
    });
    const inside = certificate("inside", "apps", { dnsNames: ["web.team-a.example.org"], issuerRef: { name: "team-ca", kind: "ClusterIssuer" } });
    const outside = certificate("outside", "apps", { dnsNames: ["web.team-b.example.org"], issuerRef: { name: "team-ca", kind: "ClusterIssuer" } });
    await store.create(CLUSTER_ISSUERS, clusterIssuer("selfsigned", { selfSigned: {} }));
    await store.create(CLUSTER_ISSUERS, clusterIssuer("team-ca", { ca: { secretName: "team-root-ca" } }));
    for (const c of [root, inside, outside]) await store.create(CERTIFICATES, c);
    engine = new Engine({ store, clock, random: fixedRandom(0), metricsRegistry: new Registry() });
    await engine.start();
    await engine.idle();

    const rootSecret = await store.get<Secret>(SECRETS, "meshsign-system", "team-root-ca");
    const caPem = decode(rootSecret, "tls.crt");
    const text = spawnSync("openssl", ["x509", "-noout", "-text"], { input: caPem, encoding: "utf8" }).stdout;
    expect(text).toMatch(/X509v3 Name Constraints: critical\n\s+Permitted:\n\s+DNS:team-a\.example\.org\n\s+Excluded:\n\s+IP:0\.0\.0\.0\/0\.0\.0\.0\n\s+IP:0:0:0:0:0:0:0:0\/0:0:0:0:0:0:0:0/);
    expect(new X509Certificate(caPem).ca).toBe(true);
    // Reading its own request back is not a spec change: issued once, not re-issued for ever.
    expect((await store.get<Certificate>(CERTIFICATES, "meshsign-system", "team-root"))?.status?.revision).toBe(1);

    const insideLeaf = decode(await store.get<Secret>(SECRETS, "apps", "inside-tls"), "tls.crt");
    const outsideLeaf = decode(await store.get<Secret>(SECRETS, "apps", "outside-tls"), "tls.crt");
    expect(verify(caPem, insideLeaf)).toMatch(/: OK/);
    expect(verify(caPem, outsideLeaf)).toMatch(/permitted subtree violation/);
  });
});

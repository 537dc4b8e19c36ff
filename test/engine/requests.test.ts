import { afterEach, describe, expect, it } from "vitest";
import { CERTIFICATE_REQUESTS, CERTIFICATES, CLUSTER_ISSUERS } from "../../src/api/types.js";
import { Engine } from "../../src/engine/engine.js";
import type { CertificateRequest } from "../../src/engine/lib/api.js";
import { MemoryStore } from "../../src/store/memory/index.js";
import { certificate, clusterIssuer } from "./lib/builders.js";
import { FakeClock, fixedRandom } from "./lib/fake-clock.js";

describe("the CertificateRequest the engine creates", () => {
  let engine: Engine | undefined;
  afterEach(async () => {
    await engine?.stop();
    engine = undefined;
  });

  it("copies the Certificate's annotations except the manifest loader's source marker and cert-manager's excluded prefixes, and is approved and issued in one status", async () => {
    const clock = new FakeClock(Date.parse("2026-01-01T00:00:00Z"));
    const store = new MemoryStore({ now: () => clock.now() });
    await store.create(CLUSTER_ISSUERS, clusterIssuer("selfsigned", { selfSigned: {} }));
    const cert = certificate("web", "apps", { privateKey: { algorithm: "ECDSA", size: 256 } });
    cert.metadata.annotations = {
      "meshsign.io/manifest-source": "web.yaml",
      "kubectl.kubernetes.io/last-applied-configuration": "{}",
      "example.com/team": "payments",
    };
    await store.create(CERTIFICATES, cert);
    engine = new Engine({ store, clock, random: fixedRandom(0), events: false });
    await engine.start();
    await engine.idle();
    const [cr, ...rest] = await store.list<CertificateRequest>(CERTIFICATE_REQUESTS, { namespace: "apps" });
    expect(rest).toEqual([]);
    const annotations = cr?.metadata.annotations ?? {};
    expect(annotations["example.com/team"]).toBe("payments");
    expect(annotations).not.toHaveProperty("meshsign.io/manifest-source");
    expect(annotations).not.toHaveProperty("kubectl.kubernetes.io/last-applied-configuration");
    expect(annotations["cert-manager.io/certificate-revision"]).toBe("1");
    expect(cr?.status?.conditions?.map((c) => `${c.type}=${c.status}:${c.reason}`)).toEqual(["Approved=True:cert-manager.io", "Ready=True:Issued"]);
  });
});

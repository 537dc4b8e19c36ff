import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { CLUSTER_ISSUERS, ISSUERS, SECRETS } from "../../../src/api/types.js";
import { Engine } from "../../../src/engine/engine.js";
import type { IssuerResource } from "../../../src/engine/lib/api.js";
import { MemoryStore } from "../../../src/store/memory/index.js";
import type { KubeObject, ResourceType } from "../../../src/store/types.js";
import { loadFixture } from "../../engine/lib/builders.js";
import { FakeClock } from "../../engine/lib/fake-clock.js";

const TYPES: Record<string, ResourceType> = { ClusterIssuer: CLUSTER_ISSUERS, Issuer: ISSUERS, Secret: SECRETS };

let engine: Engine | undefined;
afterEach(async () => {
  await engine?.stop();
  engine = undefined;
});

describe("examples/vault-issuers.yaml", () => {
  it("loads, and each issuer reports a precise not-ready condition when its Vault cannot be reached", async () => {
    const clock = new FakeClock(Date.now());
    const store = new MemoryStore({ now: () => clock.now() });
    for (const o of loadFixture("vault-issuers.yaml") as (KubeObject & { stringData?: Record<string, string> })[]) {
      const type = TYPES[o.kind];
      if (type === undefined) continue;
      const obj = o.stringData === undefined ? o : { ...o, stringData: undefined, data: Object.fromEntries(Object.entries(o.stringData).map(([k, v]) => [k, Buffer.from(v).toString("base64")])) };
      await store.create(type, structuredClone(obj));
    }
    engine = new Engine({ store, clock, metricsRegistry: new Registry() });
    await engine.start();
    await engine.idle();
    const ready = async (type: ResourceType, ns: string | undefined, name: string) => (await store.get<IssuerResource>(type, ns, name))?.status?.conditions?.find((c) => c.type === "Ready");
    // The example's server, vault.vault.svc, only resolves inside a cluster.
    expect(await ready(ISSUERS, "meshsign-system", "vault-token")).toMatchObject({ status: "False", reason: "VaultError", message: expect.stringMatching(/^Vault health check failed: /) });
    expect(await ready(ISSUERS, "meshsign-system", "vault-approle")).toMatchObject({ status: "False", reason: "VaultError", message: expect.stringMatching(/^Failed to initialize Vault client: Vault AppRole login failed: /) });
    expect(await ready(CLUSTER_ISSUERS, undefined, "vault-kubernetes")).toMatchObject({
      status: "False",
      reason: "VaultError",
      message: expect.stringMatching(/serviceAccountRef needs a service account token from the Kubernetes TokenRequest API/),
    });
  });
});

import { describe, expect, it } from "vitest";
import { CLUSTER_ISSUERS } from "../../src/api/types.js";
import { systemClock } from "../../src/engine/clock.js";
import { IssuerController } from "../../src/engine/issuer-controller.js";
import type { IssuerResource } from "../../src/engine/lib/api.js";
import type { Issuer, IssuerStatus } from "../../src/issuers/issuer.js";
import { IssuerRegistry } from "../../src/issuers/registry.js";
import { MemoryStore } from "../../src/store/memory/index.js";
import type { KubeObject } from "../../src/store/types.js";

/*
 * An issuer whose readiness changes on its own (Vault sealed, then
 * unsealed) reports it, and the stored Ready condition follows without a
 * rebuild; a replaced instance is closed and no longer followed.
 */

class LiveIssuer implements Issuer {
  readonly kind = "live";
  status_: IssuerStatus = { ready: true, reason: "VaultVerified", message: "Vault verified" };
  readonly listeners = new Set<(s: IssuerStatus) => void>();
  closed = false;
  status(): IssuerStatus {
    return this.status_;
  }
  async sign(): Promise<never> {
    throw new Error("not used");
  }
  watchStatus(l: (s: IssuerStatus) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  close(): void {
    this.closed = true;
  }
  set(s: IssuerStatus): void {
    this.status_ = s;
    for (const l of this.listeners) l(s);
  }
}

async function ready(store: MemoryStore, name: string) {
  const o = await store.get<IssuerResource>(CLUSTER_ISSUERS, undefined, name);
  return o?.status?.conditions?.find((c) => c.type === "Ready");
}

describe("the Issuer Ready condition of a backend that changes on its own", () => {
  it("follows sealed and unsealed without a rebuild, and stops following a replaced instance", async () => {
    const store = new MemoryStore();
    const built: LiveIssuer[] = [];
    const registry = new IssuerRegistry().register("live", async () => {
      const i = new LiveIssuer();
      built.push(i);
      return { issuer: i, secretNames: [] };
    });
    const controller = new IssuerController({ store, registry, clock: systemClock });
    await store.create(CLUSTER_ISSUERS, {
      apiVersion: "cert-manager.io/v1",
      kind: "ClusterIssuer",
      metadata: { name: "vault" },
      spec: { live: { v: 1 } },
    } as KubeObject);
    await controller.start();
    expect(await ready(store, "vault")).toMatchObject({ status: "True", message: "Vault verified" });

    const first = built[0] as LiveIssuer;
    first.set({ ready: false, reason: "VaultError", message: "Vault is sealed" });
    await controller.settled();
    expect(await ready(store, "vault")).toMatchObject({
      status: "False",
      reason: "VaultError",
      message: "Vault is sealed",
    });
    first.set({ ready: true, reason: "VaultVerified", message: "Vault verified" });
    await controller.settled();
    expect(await ready(store, "vault")).toMatchObject({ status: "True", message: "Vault verified" });
    expect(built).toHaveLength(1);

    // A spec change builds a new instance; the old one is closed and its reports ignored.
    const fresh = (await store.get<IssuerResource>(CLUSTER_ISSUERS, undefined, "vault")) as IssuerResource;
    await store.update(CLUSTER_ISSUERS, { ...fresh, spec: { live: { v: 2 } } });
    while (built.length < 2) await new Promise((r) => setTimeout(r, 5));
    await controller.settled();
    expect(built).toHaveLength(2);
    expect(first.closed).toBe(true);
    expect(first.listeners.size).toBe(0);
    controller.stop();
    expect((built[1] as LiveIssuer).closed).toBe(true);
  });
});
